package dynamotest

import (
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/truora/minidyn/server"
)

// table is what the stand-in knows of a table beside its items (which are
// the engine's).
type table struct {
	name    string
	shards  []string  // the engine's tables holding its items (shards.go)
	keys    []keyAttr // the partition key, then the sort key if any
	billing string
	created time.Time
	ttl     string // the TTL attribute; "" while TTL is disabled
}

type keyAttr struct{ name, typ string }

// keyOf is the item's key.
func (t *table) keyOf(item map[string]*av) map[string]*av {
	key := make(map[string]*av, len(t.keys))
	for _, k := range t.keys {
		key[k.name] = item[k.name]
	}
	return key
}

// lookup finds a table by a request's TableName; the caller holds s.mu.
func (s *Server) lookup(name *string) (*table, *apiError) {
	if e := checkTableName(name); e != nil {
		return nil, e
	}
	t := s.tables[*name]
	if t == nil {
		return nil, notFound()
	}
	return t, nil
}

// CreateTable makes the project's table (DESIGN §11): partition key
// KeyAttribute (a string), on-demand, Time to Live on TTLAttribute. It
// panics when the name is one DynamoDB refuses or the table exists.
func (s *Server) CreateTable(name string) {
	in := &server.CreateTableInput{
		TableName:            aws.String(name),
		AttributeDefinitions: []ddbtypes.AttributeDefinition{{AttributeName: aws.String(KeyAttribute), AttributeType: ddbtypes.ScalarAttributeTypeS}},
		KeySchema:            []ddbtypes.KeySchemaElement{{AttributeName: aws.String(KeyAttribute), KeyType: ddbtypes.KeyTypeHash}},
		BillingMode:          ddbtypes.BillingModePayPerRequest,
	}
	if _, e := s.create(in); e != nil {
		panic("dynamotest: CreateTable(" + name + "): " + e.code + ": " + e.message)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.tables[name].ttl = TTLAttribute
}

func (s *Server) createTable(body []byte) (any, *apiError) {
	in, e := decode[server.CreateTableInput](body)
	if e != nil {
		return nil, e
	}
	return s.create(in)
}

func (s *Server) create(in *server.CreateTableInput) (any, *apiError) {
	if e := checkTableName(in.TableName); e != nil {
		return nil, e
	}
	if len(in.GlobalSecondaryIndexes) > 0 || len(in.LocalSecondaryIndexes) > 0 {
		return nil, validation("dynamotest: secondary indexes are not supported")
	}
	keys, e := keySchema(in.KeySchema, in.AttributeDefinitions)
	if e != nil {
		return nil, e
	}
	billing := string(in.BillingMode)
	switch billing {
	case "", "PROVISIONED":
		billing = "PROVISIONED"
		if in.ProvisionedThroughput == nil || in.ProvisionedThroughput.ReadCapacityUnits == nil || in.ProvisionedThroughput.WriteCapacityUnits == nil {
			return nil, validation("One or more parameter values were invalid: ReadCapacityUnits and WriteCapacityUnits must both be specified when BillingMode is PROVISIONED")
		}
	case "PAY_PER_REQUEST":
		if in.ProvisionedThroughput != nil {
			return nil, validation("One or more parameter values were invalid: Neither ReadCapacityUnits nor WriteCapacityUnits can be specified when BillingMode is PAY_PER_REQUEST")
		}
	default:
		return nil, validation("1 validation error detected: Value '" + billing + "' at 'billingMode' failed to satisfy constraint: Member must satisfy enum value set: [PROVISIONED, PAY_PER_REQUEST]")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.tables[*in.TableName] != nil {
		return nil, &apiError{status: 400, code: "ResourceInUseException", message: "Table already exists: " + *in.TableName}
	}
	t := &table{name: *in.TableName, shards: shardNames(*in.TableName), keys: keys, billing: billing, created: time.Now()}
	for i := range t.shards {
		if _, err := s.engine.CreateTable(bg, &server.CreateTableInput{TableName: &t.shards[i],
			AttributeDefinitions: in.AttributeDefinitions, KeySchema: in.KeySchema, BillingMode: in.BillingMode,
			ProvisionedThroughput: in.ProvisionedThroughput}); err != nil {
			return nil, engineError(err)
		}
	}
	s.tables[t.name] = t
	return map[string]any{"TableDescription": s.describe(t, "ACTIVE")}, nil
}

// keySchema reads a CreateTable's key: a partition key, perhaps a sort key,
// each defined as S, N or B, and no other attribute defined.
func keySchema(schema []ddbtypes.KeySchemaElement, defs []ddbtypes.AttributeDefinition) ([]keyAttr, *apiError) {
	if len(schema) == 0 || len(schema) > 2 {
		return nil, validation(fmt.Sprintf("1 validation error detected: Value '%d' at 'keySchema' failed to satisfy constraint: Member must have length less than or equal to 2 and greater than or equal to 1", len(schema)))
	}
	types := map[string]string{}
	for _, d := range defs {
		switch d.AttributeType {
		case "S", "N", "B":
		default:
			return nil, validation("1 validation error detected: Value '" + string(d.AttributeType) + "' at 'attributeDefinitions.member.attributeType' failed to satisfy constraint: Member must satisfy enum value set: [B, N, S]")
		}
		types[aws.ToString(d.AttributeName)] = string(d.AttributeType)
	}
	var keys []keyAttr
	for i, el := range schema {
		want := ddbtypes.KeyTypeHash
		if i == 1 {
			want = ddbtypes.KeyTypeRange
		}
		if el.KeyType != want {
			return nil, validation("Invalid KeySchema: The first KeySchemaElement is not a HASH key type, or the second is not a RANGE key type")
		}
		name := aws.ToString(el.AttributeName)
		typ, ok := types[name]
		if !ok {
			return nil, validation("One or more parameter values were invalid: Some index key attributes are not defined in AttributeDefinitions. Keys: [" + name + "], AttributeDefinitions: " + fmt.Sprint(slices.Sorted(maps.Keys(types))))
		}
		keys = append(keys, keyAttr{name: name, typ: typ})
	}
	if len(types) != len(keys) {
		return nil, validation("One or more parameter values were invalid: Number of attributes in KeySchema does not exactly match number of attributes defined in AttributeDefinitions")
	}
	return keys, nil
}

// tableDescription is DynamoDB's TableDescription (the SDK reads
// CreationDateTime as epoch seconds).
type tableDescription struct {
	TableName             string
	TableArn              string
	TableId               string
	TableStatus           string
	CreationDateTime      float64
	KeySchema             []keySchemaElement
	AttributeDefinitions  []attributeDefinition
	BillingModeSummary    *billingModeSummary `json:",omitempty"`
	ProvisionedThroughput provisionedThroughput
	ItemCount             int64
	TableSizeBytes        int64
}

type keySchemaElement struct{ AttributeName, KeyType string }
type attributeDefinition struct{ AttributeName, AttributeType string }
type billingModeSummary struct{ BillingMode string }
type provisionedThroughput struct {
	NumberOfDecreasesToday, ReadCapacityUnits, WriteCapacityUnits int64
}

// describe is t's description; the caller holds s.mu.
func (s *Server) describe(t *table, status string) tableDescription {
	d := tableDescription{
		TableName:        t.name,
		TableArn:         "arn:aws:dynamodb:us-east-1:" + AccountID + ":table/" + t.name,
		TableId:          fmt.Sprintf("00000000-0000-4000-8000-%012x", t.created.UnixNano()&0xffffffffffff),
		TableStatus:      status,
		CreationDateTime: float64(t.created.UnixMilli()) / 1000,
	}
	for i, k := range t.keys {
		typ := "HASH"
		if i == 1 {
			typ = "RANGE"
		}
		d.KeySchema = append(d.KeySchema, keySchemaElement{k.name, typ})
		d.AttributeDefinitions = append(d.AttributeDefinitions, attributeDefinition{k.name, k.typ})
	}
	if t.billing == "PAY_PER_REQUEST" {
		d.BillingModeSummary = &billingModeSummary{t.billing}
	}
	items, err := s.scanAll(t)
	if err == nil {
		d.ItemCount = int64(len(items))
		for _, it := range items {
			d.TableSizeBytes += int64(itemSize(it))
		}
	}
	return d
}

func (s *Server) describeTable(body []byte) (any, *apiError) {
	in, e := decode[server.DescribeTableInput](body)
	if e != nil {
		return nil, e
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	t, e := s.lookup(in.TableName)
	if e != nil {
		if e.code == "ResourceNotFoundException" {
			e.message = "Requested resource not found: Table: " + *in.TableName + " not found"
		}
		return nil, e
	}
	return map[string]any{"Table": s.describe(t, "ACTIVE")}, nil
}

func (s *Server) deleteTable(body []byte) (any, *apiError) {
	in, e := decode[server.DeleteTableInput](body)
	if e != nil {
		return nil, e
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	t, e := s.lookup(in.TableName)
	if e != nil {
		return nil, e
	}
	d := s.describe(t, "DELETING")
	for i := range t.shards {
		if _, err := s.engine.DeleteTable(bg, &server.DeleteTableInput{TableName: &t.shards[i]}); err != nil {
			return nil, engineError(err)
		}
	}
	delete(s.tables, t.name)
	return map[string]any{"TableDescription": d}, nil
}

func (s *Server) listTables([]byte) (any, *apiError) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return map[string][]string{"TableNames": sortedKeys(s.tables)}, nil
}

type timeToLiveSpecification struct {
	AttributeName *string
	Enabled       *bool
}

func (s *Server) updateTimeToLive(body []byte) (any, *apiError) {
	in, e := decode[struct {
		TableName               *string
		TimeToLiveSpecification *timeToLiveSpecification
	}](body)
	if e != nil {
		return nil, e
	}
	spec := in.TimeToLiveSpecification
	if spec == nil || spec.Enabled == nil || aws.ToString(spec.AttributeName) == "" {
		return nil, validation("1 validation error detected: Value null at 'timeToLiveSpecification' failed to satisfy constraint: Member must not be null")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	t, e := s.lookup(in.TableName)
	if e != nil {
		return nil, e
	}
	switch {
	case *spec.Enabled && t.ttl != "":
		return nil, validation("TimeToLive is already enabled")
	case !*spec.Enabled && t.ttl == "":
		return nil, validation("TimeToLive is already disabled")
	case *spec.Enabled:
		t.ttl = *spec.AttributeName
	default:
		t.ttl = ""
	}
	return map[string]any{"TimeToLiveSpecification": spec}, nil
}

func (s *Server) describeTimeToLive(body []byte) (any, *apiError) {
	in, e := decode[server.DescribeTableInput](body)
	if e != nil {
		return nil, e
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	t, e := s.lookup(in.TableName)
	if e != nil {
		return nil, e
	}
	d := map[string]string{"TimeToLiveStatus": "DISABLED"}
	if t.ttl != "" {
		d = map[string]string{"TimeToLiveStatus": "ENABLED", "AttributeName": t.ttl}
	}
	return map[string]any{"TimeToLiveDescription": d}, nil
}
