package mqttrpc

import (
	"encoding/json"
)

// Content types written by [encode], the same as FastStream's, so that a
// FastStream service and an mqttrpc client understand each other.
const (
	contentTypeText = "text/plain"
	contentTypeJSON = "application/json"
)

// encode turns a request or reply body into a payload and its content type:
// a string is sent as text/plain, a []byte as it is with no content type, nil
// as an empty payload, and anything else as JSON.
func encode(body any) ([]byte, string, error) {
	switch v := body.(type) {
	case nil:
		return nil, "", nil
	case []byte:
		return v, "", nil
	case string:
		return []byte(v), contentTypeText, nil
	}
	data, err := json.Marshal(body)
	if err != nil {
		return nil, "", fail(ErrEncoding, "encode %T: %w", body, err)
	}
	return data, contentTypeJSON, nil
}

// decode stores payload in the value v points to, the reverse of [encode]:
// *string and *[]byte take the bytes as they are, anything else is JSON.
func decode(payload []byte, v any) error {
	switch p := v.(type) {
	case *string:
		*p = string(payload)
		return nil
	case *[]byte:
		*p = append((*p)[:0], payload...)
		return nil
	}
	if err := json.Unmarshal(payload, v); err != nil {
		return fail(ErrEncoding, "decode into %T: %w", v, err)
	}
	return nil
}
