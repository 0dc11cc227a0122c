package mqttrpc

// Response is the reply a handler returns when it wants to shape the reply
// message itself. A handler that returns a plain value (through [Typed]) or a
// nil *Response replies at the request's QoS with no headers; a *Response
// states the reply in full, so its zero QoS means QoS 0.
type Response struct {
	// Body is encoded as a request body is: a string as text/plain, a []byte
	// as it is, nil as an empty payload, anything else as JSON.
	Body any

	// Headers are sent as MQTT 5 User Properties (dropped on MQTT 3.1.1).
	// The keys __stat and __stMsg are reserved for error replies.
	Headers map[string]string

	// CorrelationID replaces the request's Correlation Data in the reply when
	// set. Leave it empty to echo the request's, which is what callers match on.
	CorrelationID string

	QoS    byte // QoS of the reply: 0, 1 or 2
	Retain bool // publish the reply as a retained message
}
