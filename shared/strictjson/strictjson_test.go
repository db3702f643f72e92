package strictjson

import (
	"encoding/json"
	"errors"
	"testing"
)

type target struct {
	Operation string   `json:"operation"`
	Items     []string `json:"items,omitempty"`
	Plain     int
	Hidden    string `json:"-"`
	internal  int
}

func TestUnmarshal(t *testing.T) {
	var v target
	if err := Unmarshal([]byte(`{"operation":"APPEND","ITEMS":["a"],"plain":3}`), &v); err != nil {
		t.Fatal(err)
	}
	if v.Operation != "APPEND" || len(v.Items) != 1 || v.Plain != 3 || v.internal != 0 {
		t.Fatalf("%+v", v)
	}
	var u *UnknownFieldError
	for _, in := range []string{`{"operation":"x","extra":1}`, `{"Hidden":"x"}`, `{"internal":1}`} {
		if err := Unmarshal([]byte(in), &v); !errors.As(err, &u) {
			t.Errorf("%s: got %v", in, err)
		}
	}
	// Keys match as encoding/json matches them, under Unicode case
	// folding: "ſ" is an "s" and "K" (Kelvin) a "k"; "İ" is no "i", so a
	// key "İtems", which encoding/json would drop, is unknown.
	if err := Unmarshal([]byte(`{"operation":"x","itemſ":["b"],"plain":1}`), &v); err != nil || v.Items[0] != "b" {
		t.Errorf("a key that folds to a field: %v %+v", err, v)
	}
	if err := Unmarshal([]byte(`{"operation":"x","İtems":["c"]}`), &v); !errors.As(err, &u) {
		t.Errorf("a key encoding/json would drop: %v", err)
	}
	var te *json.UnmarshalTypeError
	if err := Unmarshal([]byte(`{"items":"x"}`), &v); !errors.As(err, &te) || te.Field != "items" {
		t.Errorf("type error: %v", err)
	}
	for _, in := range []string{`[1]`, `"s"`, `{"operation":`, `{} x`} {
		if Unmarshal([]byte(in), &v) == nil {
			t.Errorf("%s accepted", in)
		}
	}
}

func BenchmarkUnmarshal(b *testing.B) {
	items := make([]string, 20000)
	for i := range items {
		items[i] = "0x00000000000000000000000000000000000000a1"
	}
	data, _ := json.Marshal(target{Operation: "APPEND", Items: items})
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		var v target
		if err := Unmarshal(data, &v); err != nil {
			b.Fatal(err)
		}
	}
}
