package mqttrpc

import "time"

// Message is an MQTT message as a handler receives it and as
// [Broker.Request] returns a reply. A handler may keep it after it returns;
// the Broker does not reuse it.
//
// On MQTT 3.1.1 only Topic, Body, QoS and Retain travel on the wire; the other
// fields are empty.
type Message struct {
	Topic string // the topic it was published to
	Body  []byte // the payload

	// ReplyTo is the MQTT 5 Response Topic: where the sender expects its reply.
	ReplyTo string

	// CorrelationID is the MQTT 5 Correlation Data. It is opaque bytes held in
	// a string, echoed back byte for byte: binary IDs survive unchanged.
	CorrelationID string

	ContentType string            // the MQTT 5 Content Type
	Headers     map[string]string // MQTT 5 User Properties; a repeated key keeps its last value

	QoS    byte // 0, 1 or 2
	Retain bool

	// expiry is the MQTT 5 Message Expiry Interval: on a request, how long
	// its sender will wait for the reply. Zero means none.
	expiry time.Duration

	// correlation is CorrelationID as it came off the wire, so that a reply
	// can send the same bytes without converting them back.
	correlation []byte
}

// Decode stores the body in the value v points to. A *string or *[]byte
// receives the bytes as they are; any other type is decoded from JSON.
func (m *Message) Decode(v any) error {
	return decode(m.Body, v)
}

// Header returns the value of the user property key, or "" if there is none.
func (m *Message) Header(key string) string {
	return m.Headers[key]
}
