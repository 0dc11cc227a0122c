package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"os"
	"strings"
)

// Values of --type: how a body given on the command line is sent. The
// library chooses a message's content type by the Go type of its body, so
// these are the three it can send.
const (
	typeText  = "text"  // a string: text/plain
	typeJSON  = "json"  // checked to be JSON, sent as application/json
	typeBytes = "bytes" // a []byte: no content type
)

// readBody returns the body named by arg: the text itself, the contents of
// a file for @FILE, or standard input for "-".
func readBody(arg string, stdin io.Reader) ([]byte, error) {
	switch {
	case arg == "-":
		b, err := io.ReadAll(stdin)
		if err != nil {
			return nil, fmt.Errorf("read standard input: %w", err)
		}
		return b, nil
	case strings.HasPrefix(arg, "@"):
		b, err := os.ReadFile(arg[1:])
		if err != nil {
			return nil, fmt.Errorf("read body: %w", err)
		}
		return b, nil
	}
	return []byte(arg), nil
}

// checkType reports a usage error if typ is not a value of --type.
func checkType(typ string) error {
	switch typ {
	case typeText, typeJSON, typeBytes:
		return nil
	}
	return usagef("--type %q: want text, json or bytes", typ)
}

// errNotJSON is returned by typedBody for a body that --type json says is
// JSON and is not.
var errNotJSON = errors.New("body is not JSON")

// typedBody returns b as the Go value the library sends with the content
// type typ asks for. An empty body is sent empty, with no content type.
// JSON is sent compacted, as encoding/json writes a json.RawMessage.
func typedBody(b []byte, typ string) (any, error) {
	if len(b) == 0 {
		return nil, nil
	}
	switch typ {
	case typeText:
		return string(b), nil
	case typeJSON:
		if !json.Valid(b) {
			return nil, errNotJSON
		}
		return json.RawMessage(b), nil
	}
	return b, nil
}

// isJSON reports whether a content type says JSON: application/json, or a
// type with the +json suffix.
func isJSON(contentType string) bool {
	t, _, err := mime.ParseMediaType(contentType)
	return err == nil && (t == "application/json" || strings.HasSuffix(t, "+json"))
}

// writeBody writes a reply body to w, followed by a newline unless it ends
// with one. A JSON body is indented when w is a terminal.
func writeBody(w io.Writer, body []byte, contentType string) error {
	if isJSON(contentType) && isTerminal(w) {
		var buf bytes.Buffer
		if json.Indent(&buf, body, "", "  ") == nil {
			body = buf.Bytes()
		}
	}
	if len(body) > 0 && body[len(body)-1] != '\n' {
		body = append(body[:len(body):len(body)], '\n')
	}
	_, err := w.Write(body)
	return err
}

// isTerminal reports whether w is a terminal, so that what is meant for
// people (indented JSON, a progress line) never reaches a pipe or a file.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}
