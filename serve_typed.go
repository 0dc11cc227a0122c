package mqttrpc

import (
	"context"
	"reflect"
)

// Typed adapts a function of typed values to a [Handler]. The request body is
// decoded into In: a string or []byte takes the payload as it is, any other
// type is decoded from JSON; a payload that does not decode is answered with
// [StatusBadRequest] without calling fn. The Out value is encoded as
// [Response.Body] is, or used as the reply itself if it is a *Response.
//
// fn reaches the request itself, for its topic parameters, headers and
// Correlation Data, through [MessageFromContext]; reply headers it sets
// there with [Message.SetReplyHeader] go out with its typed result.
func Typed[In, Out any](fn func(ctx context.Context, in In) (Out, error)) Handler {
	_, outIsResponse := any((*Out)(nil)).(**Response) // decided once, not per request
	return &typed[In, Out]{fn: fn, outIsResponse: outIsResponse}
}

// typed is the Handler Typed returns; it knows its types for discovery.
type typed[In, Out any] struct {
	fn            func(ctx context.Context, in In) (Out, error)
	outIsResponse bool
}

// ServeRPC decodes the request into an In, calls fn and returns its Out as
// the reply.
func (h *typed[In, Out]) ServeRPC(ctx context.Context, m *Message) (*Response, error) {
	in, err := decodeRequest[In](m)
	if err != nil {
		return nil, &RemoteError{Code: StatusBadRequest, Message: msgDecode, cause: err}
	}
	out, err := h.fn(context.WithValue(ctx, messageKey{}, m), in)
	if err != nil {
		return nil, err
	}
	if h.outIsResponse {
		return any(out).(*Response), nil
	}
	return &Response{Body: out}, nil
}

func (*typed[In, Out]) schemas() (request, response string) {
	return typeName[In](), typeName[Out]()
}

func (*typed[In, Out]) types() (request, response reflect.Type) {
	return typeOf[In](), typeOf[Out]()
}

type messageKey struct{}

// MessageFromContext returns the request a [Typed] handler is serving, or nil
// if ctx is not a typed handler's.
func MessageFromContext(ctx context.Context) *Message {
	m, _ := ctx.Value(messageKey{}).(*Message)
	return m
}

// decodeRequest decodes m's body into a new In. The common cases avoid the
// reflection and the allocation of a JSON decode: a []byte takes the body
// itself, which belongs to this one request.
func decodeRequest[In any](m *Message) (In, error) {
	var in In
	switch p := any(&in).(type) {
	case *string:
		*p = string(m.Body)
	case *[]byte:
		*p = m.Body
	case **Message:
		*p = m
	default:
		v := new(In)
		if err := decode(m.Body, v); err != nil {
			return in, err
		}
		return *v, nil
	}
	return in, nil
}
