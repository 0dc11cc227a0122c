package mqttrpc

// Response is the reply a handler returns when it wants to shape the reply
// message itself. A handler that returns a plain value (through [Typed]) or a
// nil *Response replies at the request's QoS with no headers.
type Response struct {
	// Body is encoded as a request body is: a string as text/plain, a []byte
	// as it is, nil as an empty payload, anything else as JSON.
	Body any

	// Headers are sent as MQTT 5 User Properties (dropped on MQTT 3.1.1).
	// The keys __stat and __stMsg are reserved for error replies.
	Headers map[string]string

	// ContentType replaces the Content Type that Body's Go type gives, when
	// set: for a []byte body in a format of its own (MQTT 5 only).
	ContentType string

	// CorrelationID replaces the request's Correlation Data in the reply when
	// set. Leave it empty to echo the request's, which is what callers match on.
	CorrelationID string

	// QoS of the reply. The zero value, [QoSAsRequest], replies at the
	// request's QoS, so that a handler that only adds a header keeps its
	// caller's guarantee; ask for QoS 0 with [AtMostOnce].
	QoS QoSLevel

	Retain bool // publish the reply as a retained message
}

// QoSLevel is the quality of service of a reply (see [Response]).
type QoSLevel byte

// The QoS levels of a reply. As in net/http's timeouts, the zero value is
// the default, "as the request", and the explicit choice of what a zero
// would mean elsewhere has a value of its own: AtMostOnce.
const (
	QoSAsRequest QoSLevel = 0    // the request's QoS: the zero value
	AtLeastOnce  QoSLevel = 1    // QoS 1
	ExactlyOnce  QoSLevel = 2    // QoS 2
	AtMostOnce   QoSLevel = 0x80 // QoS 0, asked for explicitly
)

// qos returns the QoS a reply to a request at qos goes out at.
func (l QoSLevel) qos(request byte) byte {
	switch l {
	case QoSAsRequest:
		return request
	case AtMostOnce:
		return 0
	}
	return byte(l)
}
