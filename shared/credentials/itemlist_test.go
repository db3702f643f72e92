package credentials

import (
	"encoding/json"
	"testing"
)

func TestListDecodesWithExactCapacity(t *testing.T) {
	cases := map[string]int{`[]`: 0, ` [ ] `: 0, `["a"]`: 1, `["a,b","c\",]","d"]`: 3, `[["x","y"],{"k":"v,w"},"z"]`: 3}
	for in, want := range cases {
		if got := countElements([]byte(in)); got != want {
			t.Errorf("countElements(%s) = %d, want %d", in, got, want)
		}
	}
	var v struct{ Items List }
	if err := json.Unmarshal([]byte(`{"Items":["a","b,c","d"]}`), &v); err != nil {
		t.Fatal(err)
	}
	if len(v.Items) != 3 || cap(v.Items) != 3 || v.Items[1] != "b,c" {
		t.Fatalf("%q cap %d", v.Items, cap(v.Items))
	}
	if err := json.Unmarshal([]byte(`{"Items":[1]}`), &v); err == nil {
		t.Fatal("numbers accepted as items")
	}
}
