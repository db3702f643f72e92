package credentials

import (
	"fmt"
	"testing"
)

func BenchmarkNormalize500(b *testing.B) {
	items := make([]string, 500)
	for i := range items {
		items[i] = fmt.Sprintf(" 0x%040X ", i)
	}
	b.ReportAllocs()
	for b.Loop() {
		if d, bad := Normalize(items); len(d) != 500 || len(bad) != 0 {
			b.Fatal("wrong result")
		}
	}
}
