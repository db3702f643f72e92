package dynamotest

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
)

// What DynamoDB refuses before it touches an item, in its words. minidyn
// accepts most of this; the stand-in refuses it here.

// checkValues checks every value of an item, key or expression map.
func checkValues(m map[string]*av) *apiError {
	for _, k := range sortedKeys(m) {
		if msg := checkValue(m[k]); msg != "" {
			return validation(msg)
		}
	}
	return nil
}

// checkValue returns DynamoDB's complaint about an attribute value, or "";
// it respells the numbers in v as DynamoDB stores them ("1.50" is "1.5").
func checkValue(v *av) string {
	if v == nil {
		return "Supplied AttributeValue is empty, must contain exactly one of the supported datatypes"
	}
	switch n := countTypes(v); {
	case n == 0:
		return "Supplied AttributeValue is empty, must contain exactly one of the supported datatypes"
	case n > 1:
		return "Supplied AttributeValue has more than one datatypes set, must contain exactly one of the supported datatypes"
	}
	switch {
	case v.N != nil:
		num, msg := parseNumber(*v.N)
		if msg == "" {
			*v.N = num.plain()
		}
		return msg
	case v.NULL != nil && !*v.NULL:
		return "One or more parameter values were invalid: Null attribute value types must have the value of true"
	case v.SS != nil:
		if len(v.SS) == 0 {
			return "One or more parameter values were invalid: An string set  may not be empty"
		}
		return duplicates(derefs(v.SS))
	case v.NS != nil:
		if len(v.NS) == 0 {
			return "One or more parameter values were invalid: An number set  may not be empty"
		}
		canon := make([]string, len(v.NS))
		for i, p := range v.NS {
			num, msg := parseNumber(*p)
			if msg != "" {
				return msg
			}
			canon[i] = num.canonical()
			*p = num.plain()
		}
		if duplicates(canon) != "" {
			return "Input collection contains duplicates"
		}
	case v.BS != nil:
		if len(v.BS) == 0 {
			return "One or more parameter values were invalid: Binary sets should not be empty"
		}
		s := make([]string, len(v.BS))
		for i, b := range v.BS {
			s[i] = string(b)
		}
		if duplicates(s) != "" {
			return "One or more parameter values were invalid: Input collection of type BS contains duplicates."
		}
	case v.L != nil:
		for _, e := range v.L {
			if msg := checkValue(e); msg != "" {
				return msg
			}
		}
	case v.M != nil:
		for _, k := range sortedKeys(v.M) {
			if msg := checkValue(v.M[k]); msg != "" {
				return msg
			}
		}
	}
	return ""
}

func countTypes(v *av) int {
	n := 0
	for _, set := range []bool{v.S != nil, v.N != nil, v.B != nil, v.BOOL != nil, v.NULL != nil,
		v.SS != nil, v.NS != nil, v.BS != nil, v.L != nil, v.M != nil} {
		if set {
			n++
		}
	}
	return n
}

// typeOf is the value's type name ("S", "N", ...).
func typeOf(v *av) string {
	switch {
	case v == nil:
		return ""
	case v.S != nil:
		return "S"
	case v.N != nil:
		return "N"
	case v.B != nil:
		return "B"
	case v.BOOL != nil:
		return "BOOL"
	case v.NULL != nil:
		return "NULL"
	case v.SS != nil:
		return "SS"
	case v.NS != nil:
		return "NS"
	case v.BS != nil:
		return "BS"
	case v.L != nil:
		return "L"
	case v.M != nil:
		return "M"
	}
	return ""
}

func duplicates(s []string) string {
	seen := make(map[string]bool, len(s))
	for _, e := range s {
		if seen[e] {
			return "One or more parameter values were invalid: Input collection [" + strings.Join(s, ", ") + "] contains duplicates."
		}
		seen[e] = true
	}
	return ""
}

// Key sizes DynamoDB allows.
const (
	maxPartitionKeyBytes = 2048
	maxSortKeyBytes      = 1024
)

// checkKey checks a Key parameter (GetItem, UpdateItem, DeleteItem, batch
// keys): exactly the table's key attributes, of their types, not empty.
func (t *table) checkKey(key map[string]*av) *apiError {
	if len(key) != len(t.keys) {
		return validation("The provided key element does not match the schema")
	}
	for i, k := range t.keys {
		v := key[k.name]
		if typeOf(v) != k.typ {
			return validation("The provided key element does not match the schema")
		}
		if e := checkKeyValue(k, v, i == 0, "One or more parameter values were invalid:"); e != nil {
			return e
		}
	}
	return nil
}

// checkItem checks a whole item (PutItem, a batch's put): its key
// attributes and its size.
func (t *table) checkItem(item map[string]*av) *apiError {
	for i, k := range t.keys {
		v := item[k.name]
		if v == nil {
			return validation("One or more parameter values were invalid: Missing the key " + k.name + " in the item")
		}
		if typ := typeOf(v); typ != k.typ {
			return validation("One or more parameter values were invalid: Type mismatch for key " + k.name + " expected: " + k.typ + " actual: " + typ)
		}
		if e := checkKeyValue(k, v, i == 0, "One or more parameter values are not valid."); e != nil {
			return e
		}
	}
	return nil
}

// checkKeyValue refuses an empty or oversized key value; invalid is how
// the message starts (DynamoDB words it one way for items, another for
// keys).
func checkKeyValue(k keyAttr, v *av, partition bool, invalid string) *apiError {
	size := 0
	switch k.typ {
	case "S":
		size = len(*v.S)
	case "B":
		size = len(v.B)
	}
	if k.typ != "N" && size == 0 {
		kind := "string"
		if k.typ == "B" {
			kind = "binary"
		}
		return validation(invalid + " The AttributeValue for a key attribute cannot contain an empty " + kind + " value. Key: " + k.name)
	}
	if partition && size > maxPartitionKeyBytes {
		return validation(fmt.Sprintf("One or more parameter values were invalid: Size of hashkey has exceeded the maximum size limit of%d bytes", maxPartitionKeyBytes))
	}
	if !partition && size > maxSortKeyBytes {
		return validation(fmt.Sprintf("One or more parameter values were invalid: Aggregated size of all range keys has exceeded the size limit of %d bytes", maxSortKeyBytes))
	}
	return nil
}

// checkSize refuses an item over MaxItemBytes.
func checkSize(item map[string]*av) *apiError {
	if itemSize(item) > MaxItemBytes {
		return validation("Item size has exceeded the maximum allowed size")
	}
	return nil
}

// expression is one of a request's expressions: its parameter's name
// ("ConditionExpression") and its text, nil when absent.
type expression struct {
	param string
	text  *string
}

var (
	// word is a placeholder (#name, :value) or a bare word of an expression.
	word        = regexp.MustCompile(`[#:]?[0-9A-Za-z_]+`)
	functionArg = regexp.MustCompile(`^\s*\(`)
	nameKey     = regexp.MustCompile(`^#[0-9A-Za-z_]+$`)
	valueKey    = regexp.MustCompile(`^:[0-9A-Za-z_]+$`)
)

// checkExpressions checks a request's expressions against its
// ExpressionAttributeNames and ExpressionAttributeValues as DynamoDB does:
// maps given without expressions or empty, placeholders that are malformed,
// used but not defined, or defined but not used. Expressions are checked in
// the order given (DynamoDB's: update, condition, key condition, filter,
// projection).
func checkExpressions(names map[string]string, values map[string]*av, exprs ...expression) *apiError {
	var given, valueParams []string
	for _, e := range exprs {
		if e.param != "ProjectionExpression" {
			valueParams = append(valueParams, e.param)
		}
		if e.text != nil {
			given = append(given, e.param)
		}
	}
	if names != nil && len(given) == 0 {
		return validation("ExpressionAttributeNames can only be specified when using expressions")
	}
	if values != nil && !slices.ContainsFunc(given, func(p string) bool { return p != "ProjectionExpression" }) {
		verb := " is null"
		if len(valueParams) > 1 {
			verb = " are null"
		}
		return validation("ExpressionAttributeValues can only be specified when using expressions: " + strings.Join(valueParams, " and ") + verb)
	}
	if names != nil && len(names) == 0 {
		return validation("ExpressionAttributeNames must not be empty")
	}
	for _, k := range sortedKeys(names) {
		if !nameKey.MatchString(k) {
			return validation(`ExpressionAttributeNames contains invalid key: Syntax error; key: "` + k + `"`)
		}
	}
	if values != nil && len(values) == 0 {
		return validation("ExpressionAttributeValues must not be empty")
	}
	for _, k := range sortedKeys(values) {
		if !valueKey.MatchString(k) {
			return validation(`ExpressionAttributeValues contains invalid key: Syntax error; key: "` + k + `"`)
		}
		if msg := checkValue(values[k]); msg != "" {
			return validation("ExpressionAttributeValues contains invalid value: " + msg + " for key " + k)
		}
	}
	unusedNames := map[string]bool{}
	for k := range names {
		unusedNames[k] = true
	}
	unusedValues := map[string]bool{}
	for k := range values {
		unusedValues[k] = true
	}
	for _, e := range exprs {
		if e.text == nil {
			continue
		}
		if strings.TrimSpace(*e.text) == "" {
			return validation("Invalid " + e.param + ": The expression can not be empty;")
		}
		for _, m := range word.FindAllStringIndex(*e.text, -1) {
			p := (*e.text)[m[0]:m[1]]
			switch {
			case p[0] == '#':
				if _, ok := names[p]; !ok {
					return validation("Invalid " + e.param + ": An expression attribute name used in the document path is not defined; attribute name: " + p)
				}
				delete(unusedNames, p)
			case p[0] == ':':
				if _, ok := values[p]; !ok {
					return validation("Invalid " + e.param + ": An expression attribute value used in expression is not defined; attribute value: " + p)
				}
				delete(unusedValues, p)
			case reservedWords[strings.ToUpper(p)] && !keywords[strings.ToUpper(p)] && !functionArg.MatchString((*e.text)[m[1]:]):
				return validation("Invalid " + e.param + ": Attribute name is a reserved keyword; reserved keyword: " + p)
			}
		}
	}
	if len(unusedNames) > 0 {
		return validation("Value provided in ExpressionAttributeNames unused in expressions: keys: {" + strings.Join(sortedKeys(unusedNames), ", ") + "}")
	}
	if len(unusedValues) > 0 {
		return validation("Value provided in ExpressionAttributeValues unused in expressions: keys: {" + strings.Join(sortedKeys(unusedValues), ", ") + "}")
	}
	return nil
}

// keywords are the reserved words expressions are written with.
var keywords = map[string]bool{"AND": true, "OR": true, "NOT": true, "BETWEEN": true, "IN": true,
	"SET": true, "REMOVE": true, "ADD": true, "DELETE": true}

// refuseLegacy refuses the pre-expression parameters (Expected,
// AttributeUpdates, AttributesToGet, ...): DynamoDB still takes them, but
// minidyn ignores most of them, so a request using them would be answered
// wrongly.
func refuseLegacy(params map[string]bool) *apiError {
	for _, name := range sortedKeys(params) {
		if params[name] {
			return validation("dynamotest: the legacy parameter " + name + " is not supported; use expressions")
		}
	}
	return nil
}

// checkReturnValues checks ReturnValues; update: UpdateItem's wider set.
func checkReturnValues(rv string, update bool) *apiError {
	switch rv {
	case "", "NONE", "ALL_OLD":
		return nil
	case "ALL_NEW", "UPDATED_OLD", "UPDATED_NEW":
		if update {
			return nil
		}
	}
	if !update {
		return validation("ReturnValues can only be ALL_OLD or NONE")
	}
	return validation("1 validation error detected: Value '" + rv + "' at 'returnValues' failed to satisfy constraint: Member must satisfy enum value set: [ALL_NEW, UPDATED_OLD, ALL_OLD, NONE, UPDATED_NEW]")
}

func checkOnFailure(rv string) *apiError {
	switch rv {
	case "", "NONE", "ALL_OLD":
		return nil
	}
	return validation("1 validation error detected: Value '" + rv + "' at 'returnValuesOnConditionCheckFailure' failed to satisfy constraint: Member must satisfy enum value set: [ALL_OLD, NONE]")
}

var tableNamePattern = regexp.MustCompile(`^[a-zA-Z0-9_.-]+$`)

func checkTableName(name *string) *apiError {
	switch {
	case name == nil:
		return validation("1 validation error detected: Value null at 'tableName' failed to satisfy constraint: Member must not be null")
	case len(*name) < 3 || len(*name) > 255:
		return validation("TableName must be at least 3 characters long and at most 255 characters long")
	case !tableNamePattern.MatchString(*name):
		return validation("1 validation error detected: Value '" + *name + "' at 'tableName' failed to satisfy constraint: Member must satisfy regular expression pattern: [a-zA-Z0-9_.-]+")
	}
	return nil
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
