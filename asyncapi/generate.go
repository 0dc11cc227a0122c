package asyncapi

import (
	"cmp"
	"encoding/json"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"strconv"
	"strings"

	"github.com/mqttrpc/mqttrpc"
)

// Info is what a document says about itself, and where its services run.
// Its zero value takes everything from the services, and from the Broker
// for [Generate].
type Info struct {
	// Title, Version and Description of the document. By default, the name,
	// version and description of the one service it describes; of several,
	// their names, and their names with their versions.
	Title, Version, Description string
	// Servers are the URLs of the MQTT brokers the services are on, as
	// [mqttrpc.Connect] takes them. By default, the Broker's servers for
	// Generate, and none for FromServices.
	Servers []string
	// Protocol is the MQTT version the services speak. By default, the
	// Broker's for Generate, and MQTT 5 for FromServices: services that
	// answer discovery speak MQTT 5.
	Protocol mqttrpc.Version
	// Discovery, when set, is the topic prefix the services answer
	// discovery on ([mqttrpc.DefaultDiscoveryPrefix] unless
	// [mqttrpc.WithDiscoveryPrefix] says otherwise), and the document
	// describes its PING, INFO and STATS requests too. MQTT 5 only: on
	// MQTT 3.1.1 services answer no discovery.
	Discovery string
}

// Generate returns the document of the services b runs now (see
// [mqttrpc.Broker.Services]), with the JSON Schemas of their typed
// handlers' Go types.
func Generate(b *mqttrpc.Broker, info Info) (*Document, error) {
	if info.Servers == nil {
		info.Servers = b.Servers()
	}
	if info.Protocol == 0 {
		info.Protocol = b.Version()
	}
	var services []mqttrpc.ServiceInfo
	for _, s := range b.Services() {
		services = append(services, s.Info())
	}
	return FromServices(services, info)
}

// FromServices returns the document of services, as [mqttrpc.Service.Info]
// or discovery's INFO or SCHEMA (see [mqttrpc.Discover]) describe them.
// Payload schemas come from the Go types where the [mqttrpc.EndpointInfo]
// knows them, as a Service's own does, else from its RequestSchemaJSON and
// ResponseSchemaJSON, which a SCHEMA reply carries; an INFO reply only
// names them, so JSON payloads then have no schema, and their messages the
// schema's name.
//
// The instances of a service serve the same endpoints, so an endpoint that
// several of them list (by service name, endpoint name and pattern) is
// described once.
func FromServices(services []mqttrpc.ServiceInfo, info Info) (*Document, error) {
	if info.Protocol == 0 {
		info.Protocol = mqttrpc.V5
	}
	srv, err := servers(info.Servers, info.Protocol)
	if err != nil {
		return nil, err
	}
	d := &Document{
		AsyncAPI:   SpecVersion,
		Info:       documentInfo(services, info),
		Servers:    srv,
		Channels:   map[string]Channel{},
		Operations: map[string]Operation{},
	}
	g := generator{d: d, schemas: newSchemas(), v5: info.Protocol == mqttrpc.V5}
	for _, e := range endpoints(services) {
		if err := g.add(e); err != nil {
			return nil, fmt.Errorf("asyncapi: service %s, endpoint %s: %w", e.service, e.Name, err)
		}
	}
	if info.Discovery != "" && g.v5 {
		if err := g.addDiscovery(info.Discovery); err != nil {
			return nil, err
		}
	}
	if len(g.schemas.defs) > 0 {
		d.Components = &Components{Schemas: g.schemas.defs}
	}
	return d, nil
}

// documentInfo returns info's title, version and description, or else
// those the services give.
func documentInfo(services []mqttrpc.ServiceInfo, info Info) DocumentInfo {
	var names, versions []string
	for _, s := range services {
		names = append(names, s.Name)
		versions = append(versions, s.Name+" "+s.Version)
		if info.Description == "" {
			info.Description = s.Description
		}
	}
	slices.Sort(names)
	slices.Sort(versions)
	names, versions = slices.Compact(names), slices.Compact(versions)
	switch {
	case len(names) == 0:
		names, versions = []string{"mqttrpc services"}, []string{"0.0.0"}
	case len(versions) == 1:
		versions = []string{services[0].Version}
	}
	if len(names) > 1 {
		info.Description = "" // whose would it be?
	}
	return DocumentInfo{
		Title:       cmp.Or(info.Title, strings.Join(names, ", ")),
		Version:     cmp.Or(info.Version, strings.Join(versions, ", ")),
		Description: info.Description,
		Metadata:    sharedMetadata(services),
	}
}

// sharedMetadata returns the metadata pairs every one of services has: of
// the instances of one service, what is true of the service; nil if none.
func sharedMetadata(services []mqttrpc.ServiceInfo) map[string]string {
	if len(services) == 0 {
		return nil
	}
	out := maps.Clone(services[0].Metadata)
	for _, s := range services[1:] {
		maps.DeleteFunc(out, func(k, v string) bool {
			w, ok := s.Metadata[k]
			return !ok || w != v
		})
	}
	if len(out) == 0 {
		return nil
	}
	return out
}

// endpoint is an endpoint of a service, and the keys of its channel and
// operation in the document.
type endpoint struct {
	mqttrpc.EndpointInfo
	service     string
	key         string       // <service>.<endpoint>, numbered from .2 on if taken
	request     reflect.Type // the Go types, where known
	response    reflect.Type
	description string // of the request channel, before what the options add
}

// endpoints returns the services' endpoints in a fixed order (service name,
// endpoint name, pattern), each once, with their keys.
func endpoints(services []mqttrpc.ServiceInfo) []endpoint {
	var out []endpoint
	for _, s := range services {
		for _, e := range s.Endpoints {
			req, resp := e.Types()
			out = append(out, endpoint{EndpointInfo: e, service: s.Name, request: req, response: resp})
		}
	}
	slices.SortStableFunc(out, func(a, b endpoint) int {
		return cmp.Or(strings.Compare(a.service, b.service), strings.Compare(a.Name, b.Name), strings.Compare(a.Pattern, b.Pattern))
	})
	out = slices.CompactFunc(out, func(a, b endpoint) bool {
		return a.service == b.service && a.Name == b.Name && a.Pattern == b.Pattern
	})
	seen := map[string]int{}
	for i := range out {
		key := out[i].service + "." + out[i].Name
		seen[key]++
		if n := seen[key]; n > 1 {
			key += "." + strconv.Itoa(n)
		}
		out[i].key = key
	}
	return out
}

// generator adds endpoints to a document.
type generator struct {
	d       *Document
	schemas *schemas
	v5      bool // MQTT 5: replies go to the Response Topic
}

// add adds e's channels and operation.
func (g *generator) add(e endpoint) error {
	request, err := g.message(e.request, e.RequestContentType, e.RequestSchema, e.RequestSchemaJSON)
	if err != nil {
		return err
	}
	replies := !e.NoReply && (g.v5 || e.ReplyTopic != "")
	if replies && g.v5 {
		request.Bindings = &MessageBindings{MQTT: MQTTMessageBinding{
			ResponseTopic: g.schemas.ref(responseTopic), CorrelationData: g.schemas.ref(correlationData), BindingVersion: "0.2.0",
		}}
	}
	if e.Streaming {
		request.Headers = g.schemas.ref(streamRequestHeaders)
	}
	addr, params := address(e.Pattern)
	g.d.Channels[e.key] = Channel{
		Address:     &addr,
		Description: requestDescription(e),
		Messages:    map[string]Message{"request": request},
		Parameters:  params,
	}
	op := Operation{
		Action:    "receive",
		Channel:   ref("channels", e.key),
		Messages:  []Reference{ref("channels", e.key, "messages", "request")},
		Bindings:  &OperationBindings{MQTT: MQTTOperationBinding{QoS: e.QoS, BindingVersion: "0.2.0"}},
		Metadata:  maps.Clone(e.Metadata),
		Streaming: e.Streaming,
	}
	if len(op.Metadata) == 0 {
		op.Metadata = nil
	}
	if e.Streaming {
		op.Description = streamingDescription
	}
	if replies {
		if err := g.addReply(e, &op); err != nil {
			return err
		}
	}
	g.d.Operations[e.key] = op
	return nil
}

// addReply adds e's reply channel, and the reply to op.
func (g *generator) addReply(e endpoint, op *Operation) error {
	reply, err := g.message(e.response, e.ResponseContentType, e.ResponseSchema, e.ResponseSchemaJSON)
	if err != nil {
		return err
	}
	switch {
	case e.Streaming:
		reply.Headers = g.schemas.ref(streamReplyHeaders)
		reply.Bindings = &MessageBindings{MQTT: MQTTMessageBinding{CorrelationData: g.schemas.ref(correlationData), BindingVersion: "0.2.0"}}
	case g.v5:
		reply.Headers = g.schemas.ref(errorHeaders)
		reply.Bindings = &MessageBindings{MQTT: MQTTMessageBinding{CorrelationData: g.schemas.ref(correlationData), BindingVersion: "0.2.0"}}
	}
	ch := Channel{Messages: map[string]Message{"reply": reply}}
	switch {
	case e.ReplyTopic == "":
		ch.Description = "The Response Topic of the request: each caller names its own."
	case g.v5:
		addr, params := address(e.ReplyTopic)
		ch.Address, ch.Parameters = &addr, params
		ch.Description = "Where replies go when the request names no Response Topic; its parameters are the request topic's."
	default:
		addr, params := address(e.ReplyTopic)
		ch.Address, ch.Parameters = &addr, params
		ch.Description = "Where replies go; its parameters are the request topic's."
	}
	key := e.key + ".reply"
	g.d.Channels[key] = ch
	op.Reply = &OperationReply{Channel: ref("channels", key), Messages: []Reference{ref("channels", key, "messages", "reply")}}
	return nil
}

// message returns the message of a body of Go type t, or, where t is not
// known, of the given content type, schema name and JSON Schema.
func (g *generator) message(t reflect.Type, contentType, schema string, schemaJSON json.RawMessage) (Message, error) {
	m := Message{ContentType: contentType}
	if schema != "string" && schema != "[]byte" { // the payload says those
		m.Name = schema
	}
	var err error
	switch {
	case t != nil:
		m.Payload, err = g.schemas.payload(t)
	case len(schemaJSON) > 0:
		m.Payload, err = g.schemas.standalone(schemaJSON)
	case schema == "string":
		m.Payload = textSchema
	case schema == "[]byte":
		m.Payload = binarySchema
	}
	return m, err
}

// requestDescription says how e takes its requests, where the address
// does not.
func requestDescription(e endpoint) string {
	var s []string
	if e.description != "" {
		s = append(s, e.description)
	}
	if e.Shared != "" {
		s = append(s, fmt.Sprintf("A shared subscription of group %s: each request goes to one instance.", e.Shared))
	}
	if e.NoReply {
		s = append(s, "Requests get no reply.")
	}
	return strings.Join(s, " ")
}

// ref returns a reference to the part of the document at path.
func ref(path ...string) Reference {
	for i, p := range path {
		path[i] = strings.NewReplacer("~", "~0", "/", "~1").Replace(p)
	}
	return Reference{Ref: "#/" + strings.Join(path, "/")}
}
