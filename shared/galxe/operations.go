package galxe

import (
	"embed"
	"errors"
	"fmt"
	"path"
	"regexp"
	"sort"
	"strings"
)

// The persisted operations: GraphQL documents kept in the repository and
// embedded in the binary. Callers name one; none can send a document of its own.
//
//go:embed operations/*.graphql
var operationFiles embed.FS

// ErrUnknownOperation is returned for a name that is not a persisted operation.
var ErrUnknownOperation = errors.New("unknown operation")

// Operation is one persisted GraphQL document.
type Operation struct {
	Name     string
	Document string
	Mutation bool
}

var operations = mustLoadOperations()

// operationHeader matches the document's own operation type and name, which
// must agree with its file name.
var operationHeader = regexp.MustCompile(`^\s*(query|mutation)\s+([A-Za-z_][A-Za-z0-9_]*)`)

func mustLoadOperations() map[string]Operation {
	entries, err := operationFiles.ReadDir("operations")
	if err != nil {
		panic(err)
	}
	ops := make(map[string]Operation, len(entries))
	for _, e := range entries {
		doc, err := operationFiles.ReadFile(path.Join("operations", e.Name()))
		if err != nil {
			panic(err)
		}
		name := strings.TrimSuffix(e.Name(), ".graphql")
		m := operationHeader.FindStringSubmatch(string(doc))
		if m == nil || m[2] != name {
			panic(fmt.Sprintf("galxe: operations/%s must define the operation %q", e.Name(), name))
		}
		ops[name] = Operation{Name: name, Document: string(doc), Mutation: m[1] == "mutation"}
	}
	return ops
}

// LookupOperation returns the persisted operation of that name.
func LookupOperation(name string) (Operation, error) {
	op, ok := operations[name]
	if !ok {
		if len(name) > 64 { // a caller's input, echoed: no name is that long
			name = name[:64] + "…"
		}
		return Operation{}, fmt.Errorf("%w %q", ErrUnknownOperation, name)
	}
	return op, nil
}

// OperationNames lists the persisted operations, sorted.
func OperationNames() []string {
	names := make([]string, 0, len(operations))
	for n := range operations {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}
