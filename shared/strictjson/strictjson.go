// Package strictjson decodes a JSON object into a struct and refuses keys
// the struct does not declare, like json.Decoder's DisallowUnknownFields,
// without the Decoder's copy of the whole input: events and bodies of
// several megabytes are decoded in place.
package strictjson

import (
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"sync"
)

// skip decodes any JSON value into nothing: only the keys are kept.
type skip struct{}

func (*skip) UnmarshalJSON([]byte) error { return nil }

// UnknownFieldError names a key the target does not declare.
type UnknownFieldError struct{ Field string }

func (e *UnknownFieldError) Error() string { return fmt.Sprintf("unknown field %q", e.Field) }

// Unmarshal decodes the JSON object data into v (a pointer to a struct).
// A key that matches none of the struct's fields (by its json tag or name,
// under Unicode case folding, as encoding/json matches) is an
// *UnknownFieldError.
func Unmarshal(data []byte, v any) error {
	var keys map[string]skip
	if err := json.Unmarshal(data, &keys); err != nil {
		return err
	}
	known := fieldsOf(reflect.TypeOf(v).Elem())
	for k := range keys {
		if !slices.ContainsFunc(known, func(name string) bool { return strings.EqualFold(k, name) }) {
			return &UnknownFieldError{Field: k}
		}
	}
	return json.Unmarshal(data, v)
}

var fieldCache sync.Map // reflect.Type -> []string

// fieldsOf lists the JSON names of a struct's fields.
func fieldsOf(t reflect.Type) []string {
	if names, ok := fieldCache.Load(t); ok {
		return names.([]string)
	}
	var names []string
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		switch name {
		case "-":
			continue
		case "":
			name = f.Name
		}
		names = append(names, name)
	}
	fieldCache.Store(t, names)
	return names
}
