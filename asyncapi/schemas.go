package asyncapi

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
	"strings"

	"github.com/invopop/jsonschema"
)

// The schemas of the bodies that are not JSON.
var (
	textSchema   = json.RawMessage(`{"type":"string"}`)
	binarySchema = json.RawMessage(`{"type":"string","format":"binary"}`)
)

// The schemas of the MQTT 5 properties request/reply uses, which every
// endpoint shares as components.
var (
	correlationData = component{"mqttrpc.CorrelationData",
		`{"type":"string","format":"binary","description":"MQTT 5 Correlation Data: the caller's, echoed in the reply."}`}
	responseTopic = component{"mqttrpc.ResponseTopic",
		`{"type":"string","description":"MQTT 5 Response Topic: where the reply goes."}`}
	errorHeaders = component{"mqttrpc.ErrorHeaders",
		`{"type":"object","description":"The MQTT 5 User Properties of an error reply, whose payload is empty.","properties":{` +
			`"__stat":{"type":"string","description":"The status, as in HTTP: 400, 404, 408, 500, 503."},` +
			`"__stMsg":{"type":"string","description":"What went wrong, for people."}}}`}
	streamRequestHeaders = component{"mqttrpc.StreamRequestHeaders",
		`{"type":"object","description":"The MQTT 5 User Properties of a request to a streaming endpoint.","required":["__stream"],"properties":{` +
			`"__stream":{"type":"string","pattern":"^[dcs]:[0-9]+(:last)?(:[0-9]+)?$",` +
			`"description":"d:0[:<s left>] on the request; c:1:last[:<s left>] ends the request stream (no payload); ` +
			`s:0[:<s left>] with __stat 499 cancels the call."},` +
			`"__stat":{"type":"string","description":"499 on a cancel."}}}`}
	streamReplyHeaders = component{"mqttrpc.StreamReplyHeaders",
		`{"type":"object","description":"The MQTT 5 User Properties of each response of a stream, all with the request's Correlation Data.",` +
			`"required":["__stream"],"properties":{` +
			`"__stream":{"type":"string","pattern":"^[dcs]:[0-9]+(:last)?$",` +
			`"description":"d:<i> on response i (from 0, with a payload); c:<n>:last ends the stream after n responses (no payload); ` +
			`s:0 ends it with the error in __stat and __stMsg (499: cancelled)."},` +
			`"__stat":{"type":"string","description":"On s:0, the status, as in HTTP: 400, 404, 408, 499, 500, 503."},` +
			`"__stMsg":{"type":"string","description":"On s:0, what went wrong, for people."}}}`}
)

// streamingDescription is the description of a streaming endpoint's operation.
const streamingDescription = "Streams its responses (x-mqttrpc-streaming): the request carries the MQTT 5 user property " +
	"__stream d:0, and the reply is any number of messages to the Response Topic with the request's Correlation Data, " +
	"response i with __stream d:<i> and the payload, then one with c:<n>:last after n responses, or s:0 with __stat and " +
	"__stMsg for an error end. The caller cancels with a message to the request topic with __stream s:0 and __stat 499. " +
	"A plain request (without __stream) gets a 400 error reply."

// component is a schema of components.schemas.
type component struct {
	name, schema string
}

// schemas makes the JSON Schemas of payloads from Go types. The schemas of
// named types go to defs, which become the document's components.schemas,
// and the schemas that use them refer to them there: a JSON Reference in a
// payload is resolved against the whole document, not the payload.
type schemas struct {
	r    jsonschema.Reflector
	defs map[string]json.RawMessage
}

func newSchemas() *schemas {
	return &schemas{
		r: jsonschema.Reflector{
			Anonymous: true, // no $id: the schemas live inside the document
			// encoding/json ignores fields it does not know.
			AllowAdditionalProperties: true,
			Namer:                     schemaName,
			Mapper:                    anyValue,
		},
		defs: map[string]json.RawMessage{},
	}
}

// anyValue returns the schema of any JSON value, {}, for the types that
// hold one (an interface, a json.RawMessage), and nil for the others.
// The reflector's own is the boolean schema true, which means the same but
// which tools such as AsyncAPI Modelina cannot read. It writes an empty
// schema as true, but not one whose Extras are an empty map.
func anyValue(t reflect.Type) *jsonschema.Schema {
	if t.Kind() == reflect.Interface || t == reflect.TypeFor[json.RawMessage]() {
		return &jsonschema.Schema{Extras: map[string]any{}}
	}
	return nil
}

// schemaName names a named type as mqttrpc's EndpointInfo does ("main.Reading"),
// in the characters a component name may hold; "" for an unnamed type.
func schemaName(t reflect.Type) string {
	if t.Name() == "" {
		return ""
	}
	return strings.Map(func(r rune) rune {
		switch {
		case 'a' <= r && r <= 'z', 'A' <= r && r <= 'Z', '0' <= r && r <= '9', r == '.', r == '-', r == '_':
			return r
		}
		return '_'
	}, t.String())
}

// ref adds c to the definitions and returns a reference to it.
func (s *schemas) ref(c component) json.RawMessage {
	s.defs[c.name] = json.RawMessage(c.schema)
	return json.RawMessage(`{"$ref":"#/components/schemas/` + c.name + `"}`)
}

// payload returns the schema of a body of type t, as mqttrpc encodes it:
// a string as text, a []byte as it is, anything else as JSON. It returns
// nil for a nil t, whose payload nothing says in advance.
func (s *schemas) payload(t reflect.Type) (json.RawMessage, error) {
	switch t {
	case nil:
		return nil, nil
	case reflect.TypeFor[string]():
		return textSchema, nil
	case reflect.TypeFor[[]byte]():
		return binarySchema, nil
	}
	return s.reflect(t)
}

// JSONSchema returns the JSON Schema (draft 2020-12) of a body of Go type
// t, as mqttrpc encodes it: standalone, with the schemas of named types
// under $defs, as a document built from it names them. It is an
// [mqttrpc.SchemaGenerator]: with [mqttrpc.WithSchemaGenerator], a Broker's
// services answer these schemas to discovery's SCHEMA, so that
// [FromServices] describes them as completely as [Generate] does:
//
//	b, err := mqttrpc.Connect(ctx, url, mqttrpc.WithSchemaGenerator(asyncapi.JSONSchema))
func JSONSchema(t reflect.Type) (raw json.RawMessage, err error) {
	switch t {
	case nil:
		return nil, fmt.Errorf("asyncapi: JSON Schema of a nil type")
	case reflect.TypeFor[string]():
		return textSchema, nil
	case reflect.TypeFor[[]byte]():
		return binarySchema, nil
	}
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("asyncapi: JSON Schema of %v: %v", t, p)
		}
	}()
	root := newSchemas().r.ReflectFromType(t)
	root.Version = jsonschema.Version
	raw, err = json.Marshal(root)
	if err != nil {
		return nil, fmt.Errorf("asyncapi: %w", err)
	}
	return raw, nil
}

// standalone returns the payload schema of a standalone schema raw, as
// [JSONSchema] makes and discovery's SCHEMA carries: its $defs move to
// the document's components, and its references with them.
func (s *schemas) standalone(raw json.RawMessage) (json.RawMessage, error) {
	var root map[string]json.RawMessage
	if err := json.Unmarshal(raw, &root); err != nil {
		if string(bytes.TrimSpace(raw)) == "true" {
			return json.RawMessage(`{}`), nil
		}
		return nil, fmt.Errorf("asyncapi: a payload schema that is not a JSON object: %w", err)
	}
	_, hasDefs := root["$defs"]
	_, hasVersion := root["$schema"]
	_, hasID := root["$id"]
	if !hasDefs && !hasVersion && !hasID { // as it is, in the order it came
		var buf bytes.Buffer
		if err := json.Compact(&buf, raw); err != nil {
			return nil, fmt.Errorf("asyncapi: %w", err)
		}
		return buf.Bytes(), nil
	}
	if d, ok := root["$defs"]; ok {
		var defs map[string]json.RawMessage
		if err := json.Unmarshal(d, &defs); err != nil {
			return nil, fmt.Errorf("asyncapi: $defs: %w", err)
		}
		for name, def := range defs {
			def = toComponents(def)
			if old, ok := s.defs[name]; ok && !bytes.Equal(old, def) {
				return nil, fmt.Errorf("asyncapi: two schemas named %s differ", name)
			}
			s.defs[name] = def
		}
	}
	delete(root, "$defs")
	delete(root, "$schema") // the document's schema format applies
	delete(root, "$id")
	out, err := json.Marshal(root)
	if err != nil {
		return nil, fmt.Errorf("asyncapi: %w", err)
	}
	return toComponents(out), nil
}

// toComponents moves the references of a schema from $defs to the
// document's components. The bytes replaced cannot be inside a string,
// where JSON escapes the quotes.
func toComponents(b []byte) json.RawMessage {
	return bytes.ReplaceAll(b, []byte(`"$ref":"#/$defs/`), []byte(`"$ref":"#/components/schemas/`))
}

// reflect returns the JSON Schema of t and adds the definitions it uses.
func (s *schemas) reflect(t reflect.Type) (raw json.RawMessage, err error) {
	defer func() {
		if p := recover(); p != nil { // a channel or a func cannot be JSON
			err = fmt.Errorf("asyncapi: JSON Schema of %v: %v", t, p)
		}
	}()
	root := s.r.ReflectFromType(t)
	defs := root.Definitions
	root.Definitions = nil
	root.Version = "" // the document's schema format applies
	for name, def := range defs {
		if err := s.define(name, def); err != nil {
			return nil, err
		}
	}
	raw, err = marshalSchema(root)
	if string(raw) == "true" { // any value: AsyncAPI wants a payload to be an object
		raw = json.RawMessage(`{}`)
	}
	return raw, err
}

// define adds a named type's schema; a second type of the same name with
// another schema is an error, as both cannot have the one component.
func (s *schemas) define(name string, def *jsonschema.Schema) error {
	raw, err := marshalSchema(def)
	if err != nil {
		return err
	}
	if old, ok := s.defs[name]; ok && !bytes.Equal(old, raw) {
		return fmt.Errorf("asyncapi: two Go types named %s have different schemas", name)
	}
	s.defs[name] = raw
	return nil
}

// marshalSchema encodes a schema with its references moved from $defs to
// the document's components. The bytes replaced cannot be inside a string,
// where JSON escapes the quotes.
func marshalSchema(v *jsonschema.Schema) (json.RawMessage, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("asyncapi: %w", err)
	}
	return toComponents(b), nil
}
