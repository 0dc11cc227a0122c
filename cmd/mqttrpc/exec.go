package main

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/mqttrpc/mqttrpc"
)

// maxStderr bounds the part of a failed command's stderr that goes into
// its error reply.
const maxStderr = 1024

// waitDelay bounds how long a killed command's children may hold its
// output open before the handler stops waiting for them.
const waitDelay = time.Second

// execHandler answers each request by running a shell command with the
// request's body on its standard input, and replies with its output.
type execHandler struct {
	cmd      string   // run with sh -c
	pattern  string   // the subscriber's pattern, for the environment
	params   []string // the names in pattern
	bodyType string   // how to send the command's output (see typedBody)
}

// ServeRPC runs the command. A non-zero exit status is an error reply
// (500) carrying its stderr; a command still running at the request's
// deadline is killed, and the Broker answers 408.
func (h *execHandler) ServeRPC(ctx context.Context, m *mqttrpc.Message) (*mqttrpc.Response, error) {
	cmd := exec.CommandContext(ctx, "sh", "-c", h.cmd)
	cmd.Stdin = bytes.NewReader(m.Body)
	cmd.Env = append(os.Environ(), h.env(m)...)
	var stdout bytes.Buffer
	stderr := &headBuffer{max: maxStderr}
	cmd.Stdout, cmd.Stderr = &stdout, stderr
	cmd.WaitDelay = waitDelay
	killGroup(cmd)

	err := cmd.Run()
	if ctx.Err() != nil {
		return nil, ctx.Err() // the Broker answers with 408 or 503
	}
	if err != nil {
		return nil, mqttrpc.Errorf(mqttrpc.StatusInternalError, "%s", failure(err, stderr))
	}
	body, err := typedBody(stdout.Bytes(), h.bodyType)
	if err != nil {
		return nil, mqttrpc.Errorf(mqttrpc.StatusInternalError, "command output: %v", err)
	}
	return &mqttrpc.Response{Body: body}, nil
}

// failure describes a command that failed: its stderr, trimmed and made
// valid UTF-8 without NUL as MQTT strings must be, or else how it ended.
func failure(err error, stderr *headBuffer) string {
	msg := strings.ToValidUTF8(stderr.buf.String(), "\uFFFD")
	msg = strings.TrimSpace(strings.ReplaceAll(msg, "\x00", ""))
	var exit *exec.ExitError
	switch {
	case msg != "" && stderr.cut:
		return msg + " …"
	case msg != "":
		return msg
	case errors.As(err, &exit):
		return "command failed: " + exit.ProcessState.String()
	}
	return "command failed: " + err.Error()
}

// env returns the environment variables that describe request m to the
// command.
func (h *execHandler) env(m *mqttrpc.Message) []string {
	env := []string{
		"MQTTRPC_TOPIC=" + m.Topic,
		"MQTTRPC_PATTERN=" + h.pattern,
		"MQTTRPC_CONTENT_TYPE=" + m.ContentType,
		"MQTTRPC_QOS=" + strconv.Itoa(int(m.QoS)),
	}
	if id := m.CorrelationID; id != "" {
		// Correlation Data is bytes: a variable cannot hold NUL.
		if utf8.ValidString(id) && !strings.ContainsRune(id, 0) {
			env = append(env, "MQTTRPC_CORRELATION_ID="+id)
		} else {
			env = append(env, "MQTTRPC_CORRELATION_ID_HEX="+hex.EncodeToString([]byte(id)))
		}
	}
	for k, v := range m.Headers {
		env = append(env, "MQTTRPC_HEADER_"+envName(k)+"="+v)
	}
	for _, name := range h.params {
		env = append(env, "MQTTRPC_PARAM_"+envName(name)+"="+m.Param(name))
	}
	return env
}

// envName turns a header or parameter name into the tail of a variable
// name: upper case, and _ for every character other than A-Z and 0-9.
func envName(s string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z':
			return r - 'a' + 'A'
		case r >= 'A' && r <= 'Z', r >= '0' && r <= '9':
			return r
		}
		return '_'
	}, s)
}

// patternParams returns the names in a pattern's {name} and {name...}
// levels. The library reads a parameter by name (Message.Param) and does
// not list them, so the command finds them in the pattern itself.
func patternParams(pattern string) []string {
	var names []string
	for level := range strings.SplitSeq(pattern, "/") {
		if strings.HasPrefix(level, "{") && strings.HasSuffix(level, "}") {
			names = append(names, strings.TrimSuffix(level[1:len(level)-1], "..."))
		}
	}
	return names
}

// headBuffer keeps the first max bytes written to it and notes that more
// came, so that a chatty command cannot grow an error reply without bound.
type headBuffer struct {
	buf bytes.Buffer
	max int
	cut bool
}

func (b *headBuffer) Write(p []byte) (int, error) {
	if room := b.max - b.buf.Len(); len(p) > room {
		b.buf.Write(p[:max(room, 0)])
		b.cut = true
		return len(p), nil
	}
	return b.buf.Write(p)
}
