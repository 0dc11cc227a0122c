package asyncapi

import (
	"bytes"
	"encoding/json"

	"go.yaml.in/yaml/v3"
)

// SpecVersion is the AsyncAPI version of the documents this package writes.
const SpecVersion = "3.0.0"

// Document is an AsyncAPI 3.0 document: the part of the specification that
// describes request/reply services on MQTT. Its JSON is the document.
type Document struct {
	AsyncAPI   string               `json:"asyncapi"`
	Info       DocumentInfo         `json:"info"`
	Servers    map[string]Server    `json:"servers,omitempty"`
	Channels   map[string]Channel   `json:"channels"`
	Operations map[string]Operation `json:"operations"`
	Components *Components          `json:"components,omitempty"`
}

// DocumentInfo is a document's info object.
type DocumentInfo struct {
	Title       string `json:"title"`
	Version     string `json:"version"`
	Description string `json:"description,omitempty"`
	// Metadata is the service's metadata ([mqttrpc.ServiceConfig].Metadata),
	// the pairs that every instance described shares, as the specification
	// extension x-mqttrpc-metadata.
	Metadata map[string]string `json:"x-mqttrpc-metadata,omitempty"`
}

// Server is an MQTT broker the services are on.
type Server struct {
	Host            string `json:"host"` // host:port
	Protocol        string `json:"protocol"`
	ProtocolVersion string `json:"protocolVersion,omitempty"`
	Description     string `json:"description,omitempty"`
}

// Channel is a topic, or a topic pattern with parameters.
type Channel struct {
	// Address is the topic, with a {name} for each parameter; nil when it
	// is only known at run time, as an MQTT 5 Response Topic is. It is
	// written as null then, which AsyncAPI reads as unknown.
	Address     *string              `json:"address"`
	Title       string               `json:"title,omitempty"`
	Description string               `json:"description,omitempty"`
	Messages    map[string]Message   `json:"messages,omitempty"`
	Parameters  map[string]Parameter `json:"parameters,omitempty"`
}

// Parameter is a named level of a channel's address.
type Parameter struct {
	Description string `json:"description,omitempty"`
}

// Message is what travels on a channel.
type Message struct {
	Name        string `json:"name,omitempty"`
	Title       string `json:"title,omitempty"`
	Description string `json:"description,omitempty"`
	ContentType string `json:"contentType,omitempty"`
	// Headers is a JSON Schema of the MQTT 5 User Properties.
	Headers json.RawMessage `json:"headers,omitempty"`
	// Payload is a JSON Schema of the payload; nil when it is not known.
	Payload  json.RawMessage  `json:"payload,omitempty"`
	Bindings *MessageBindings `json:"bindings,omitempty"`
}

// MessageBindings holds a message's protocol bindings.
type MessageBindings struct {
	MQTT MQTTMessageBinding `json:"mqtt"`
}

// MQTTMessageBinding is the MQTT message binding 0.2.0: the MQTT 5
// properties request/reply rests on.
type MQTTMessageBinding struct {
	// CorrelationData is a JSON Schema of the Correlation Data.
	CorrelationData json.RawMessage `json:"correlationData,omitempty"`
	// ResponseTopic is a JSON Schema of the Response Topic.
	ResponseTopic  json.RawMessage `json:"responseTopic,omitempty"`
	BindingVersion string          `json:"bindingVersion"`
}

// Operation is what a service does on a channel: here, receive requests
// and reply to them.
type Operation struct {
	Action      string             `json:"action"` // "receive" or "send"
	Channel     Reference          `json:"channel"`
	Title       string             `json:"title,omitempty"`
	Summary     string             `json:"summary,omitempty"`
	Description string             `json:"description,omitempty"`
	Messages    []Reference        `json:"messages,omitempty"`
	Reply       *OperationReply    `json:"reply,omitempty"`
	Bindings    *OperationBindings `json:"bindings,omitempty"`
	// Metadata is the endpoint's metadata ([mqttrpc.EndpointMetadata]), as
	// the specification extension x-mqttrpc-metadata.
	Metadata map[string]string `json:"x-mqttrpc-metadata,omitempty"`
	// Streaming, the extension x-mqttrpc-streaming, is set for an endpoint
	// that streams its responses ([mqttrpc.TypedStream], [mqttrpc.StreamFunc]):
	// the reply is any number of messages, each with the user property
	// __stream, as the operation's description says.
	Streaming bool `json:"x-mqttrpc-streaming,omitempty"`
}

// OperationReply says where an operation replies, and with what.
type OperationReply struct {
	Channel  Reference   `json:"channel"`
	Messages []Reference `json:"messages,omitempty"`
}

// OperationBindings holds an operation's protocol bindings.
type OperationBindings struct {
	MQTT MQTTOperationBinding `json:"mqtt"`
}

// MQTTOperationBinding is the MQTT operation binding 0.2.0.
type MQTTOperationBinding struct {
	QoS            byte   `json:"qos"`
	Retain         bool   `json:"retain"`
	BindingVersion string `json:"bindingVersion"`
}

// Reference is a JSON Reference to another part of the document.
type Reference struct {
	Ref string `json:"$ref"`
}

// Components holds the parts of a document others refer to.
type Components struct {
	// Schemas are the JSON Schemas of named Go types, by their Go names.
	Schemas map[string]json.RawMessage `json:"schemas,omitempty"`
}

// JSON returns the document as indented JSON, its object keys sorted
// where the specification does not fix their order.
func (d *Document) JSON() ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(d); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// YAML returns the document as YAML, with the keys in the order of
// [Document.JSON].
func (d *Document) YAML() ([]byte, error) {
	j, err := d.JSON()
	if err != nil {
		return nil, err
	}
	// JSON is YAML: a yaml.Node read from it keeps the order of its keys,
	// and needs only its flow style dropped.
	var n yaml.Node
	if err := yaml.Unmarshal(j, &n); err != nil {
		return nil, err
	}
	blockStyle(&n)
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(&n); err != nil {
		return nil, err
	}
	return buf.Bytes(), enc.Close()
}

// blockStyle sets n and everything in it to YAML's block style, and
// strings to plain where YAML can read them back unchanged.
func blockStyle(n *yaml.Node) {
	n.Style &^= yaml.FlowStyle
	if n.Kind == yaml.ScalarNode && n.Tag == "!!str" {
		n.Style &^= yaml.DoubleQuotedStyle
	}
	for _, c := range n.Content {
		blockStyle(c)
	}
}
