package mqttrpc

import (
	"time"
	"unsafe"

	"github.com/mqttrpc/mqttrpc/internal/topic"
)

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

	// received is when the message arrived, as time since epoch (0 for an
	// outgoing message): a request's deadline counts from here, not from when
	// a handler became free.
	received time.Duration

	// subID is the MQTT 5 Subscription Identifier the message came through;
	// 0 if none.
	subID int

	// correlation is CorrelationID as it came off the wire, so that a reply
	// can send the same bytes without converting them back.
	correlation []byte

	// given is the body an outgoing message was built from. When it is a
	// []byte, it is Body already in an interface, which
	// paho.mqtt.golang's Publish takes: boxing Body again would cost an
	// allocation per publish.
	given any

	// Set while a handler serves the message.
	pattern      *topic.Pattern    // the subscriber's pattern, for Param
	replyHeaders map[string]string // see SetReplyHeader
	respond      *replier          // sends the one reply; see ExecutionTimeout
	stream       *Sender           // the responses of a streaming request

	// index is the position of a streamed response in its stream.
	index int
}

// Decode stores the body in the value v points to. A *string or *[]byte
// receives the bytes as they are; any other type is decoded from JSON.
func (m *Message) Decode(v any) error {
	return opError("decode", m.Topic, decode(m.Body, v))
}

// Header returns the value of the user property key, or "" if there is none.
func (m *Message) Header(key string) string {
	return m.Headers[key]
}

// Param returns the topic level that the subscriber's pattern names name:
// for a handler on "devices/{id}/reboot" and a request on
// devices/42/reboot, Param("id") is "42"; for "logs/{rest...}", Param("rest")
// is the rest of the topic. It returns "" if the pattern has no such name, or
// outside a handler.
func (m *Message) Param(name string) string {
	if m.pattern == nil {
		return ""
	}
	v, _ := m.pattern.Value(m.Topic, name)
	return v
}

// Pattern returns the pattern of the subscriber serving m, as it was
// registered ("devices/{id}/reboot"): a name of bounded cardinality for
// metrics and traces, where the topic has one level per device. It returns
// "" outside a handler.
func (m *Message) Pattern() string {
	if m.pattern == nil {
		return ""
	}
	return m.pattern.Raw
}

// SetReplyHeader adds a user property to the reply to this request, whatever
// the handler returns: a [Typed] handler sets headers this way and keeps its
// typed result. Headers of a returned [Response] win over these. Call it only
// from the handler serving m, before it returns.
func (m *Message) SetReplyHeader(key, value string) {
	if m.replyHeaders == nil {
		m.replyHeaders = make(map[string]string)
	}
	m.replyHeaders[key] = value
}

// epoch is what receipt times count from. A Duration since it takes 8 bytes
// of every Message where a time.Time would take 24, and it keeps the
// monotonic clock's reading.
var epoch = time.Now()

// payload returns Body as an interface, reusing given when it holds Body.
func (m *Message) payload() any {
	if b, ok := m.given.([]byte); ok && len(b) == len(m.Body) && unsafe.SliceData(b) == unsafe.SliceData(m.Body) {
		return m.given
	}
	return m.Body
}

// deadline returns when the request's sender stops waiting, if it said.
func (m *Message) deadline() (time.Time, bool) {
	if m.expiry <= 0 || m.received == 0 {
		return time.Time{}, false
	}
	return epoch.Add(m.received + m.expiry), true
}

// newMessage builds an outgoing message, checking what the caller gave.
func newMessage(topicName string, body any, o publishOptions) (*Message, error) {
	if err := topic.ValidName(topicName); err != nil {
		return nil, failWith(ErrInvalidTopic, err)
	}
	if o.qos > 2 {
		return nil, fail(ErrInvalidArgument, "QoS %d", o.qos)
	}
	payload, contentType, err := encode(body)
	if err != nil {
		return nil, err
	}
	if o.contentType != "" {
		contentType = o.contentType
	}
	if o.replyTo != "" {
		if err := topic.ValidReplyTopic(o.replyTo); err != nil {
			return nil, fail(ErrInvalidTopic, "reply topic %q: %w", o.replyTo, err)
		}
	}
	return &Message{
		Topic:         topicName,
		ReplyTo:       o.replyTo,
		Body:          payload,
		given:         body,
		ContentType:   contentType,
		CorrelationID: o.correlationID,
		Headers:       mergeHeaders(o.headers, o.addHeaders),
		QoS:           o.qos,
		Retain:        o.retain,
	}, nil
}
