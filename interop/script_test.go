package interop

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mqttrpc/mqttrpc/internal/brokertest"
)

// TestMQTTJS runs the matrix with MQTT.js (npm package mqtt, v5 API), through
// the scripts in js/, over TCP and, as in a browser, over WebSocket. Its
// dependencies come from `npm ci` in interop/js.
func TestMQTTJS(t *testing.T) {
	t.Parallel()
	node, err := exec.LookPath("node")
	if err != nil {
		missing(t, "node not installed")
	}
	dir, err := filepath.Abs("js")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "mqtt", "package.json")); err != nil {
		missing(t, "MQTT.js not installed: run `npm ci` in interop/js")
	}
	runMatrix(t, &scriptClient{cmd: []string{node}, dir: dir, caller: "caller.mjs", responder: "responder.mjs"},
		brokertest.MochiWebsocket(t))
}

// TestPahoPython runs the matrix with Python's paho-mqtt, through the
// scripts in py/. Debian's python3-paho-mqtt installs it for /usr/bin/python3,
// which need not be the python3 first on PATH (pyenv, a virtualenv);
// MQTTRPC_INTEROP_PYTHON names another interpreter.
func TestPahoPython(t *testing.T) {
	t.Parallel()
	runMatrix(t, pahoPython(t))
}

// pahoPython returns the client that runs the scripts in py/, or skips the
// test (fails it in CI) if paho-mqtt cannot be imported.
func pahoPython(t *testing.T) *scriptClient {
	t.Helper()
	python := os.Getenv("MQTTRPC_INTEROP_PYTHON")
	if python == "" {
		python = "/usr/bin/python3"
		if _, err := os.Stat(python); err != nil {
			python = "python3"
		}
	}
	ctx, cancel := context.WithTimeout(t.Context(), clientTimeout)
	defer cancel()
	out, err := exec.CommandContext(ctx, python, "-c", "import paho.mqtt; print(paho.mqtt.__version__)").CombinedOutput()
	if err != nil {
		missing(t, "paho-mqtt not importable by %s (apt-get install python3-paho-mqtt): %v\n%s", python, err, out)
	}
	t.Logf("%s: paho-mqtt %s", python, bytes.TrimSpace(out))
	dir, err := filepath.Abs("py")
	if err != nil {
		t.Fatal(err)
	}
	return &scriptClient{
		cmd: []string{python}, dir: dir, caller: "caller.py", responder: "responder.py",
		// Leave no __pycache__ in the source tree.
		env: []string{"PYTHONDONTWRITEBYTECODE=1"},
	}
}

// scriptClient runs a client library's caller and responder scripts, which
// share one protocol: a JSON config as the only argument, and JSON events,
// one a line, on stdout (see js/common.mjs and py/common.py).
type scriptClient struct {
	cmd               []string // interpreter
	dir               string   // the scripts' folder
	caller, responder string   // script file names
	env               []string // added to the environment
}

// binaryID is not UTF-8 and holds a NUL and a newline: the scripts send the
// bytes themselves, so anything a string could not carry is fair game.
func (*scriptClient) binaryID() []byte { return []byte("\x00\xff\xfe\x80\nid") }

type scriptConfig struct {
	URL             string   `json:"url"`
	Version         int      `json:"version"` // 5 or 4 (3.1.1), as mqttrpc.Version
	Topic           string   `json:"topic"`
	ReplyTopic      string   `json:"replyTopic,omitempty"`
	TimeoutMs       int64    `json:"timeoutMs"`
	Msg             *wireMsg `json:"msg,omitempty"`   // caller: the request
	Reply           *wireMsg `json:"reply,omitempty"` // responder: the reply
	EchoCorrelation bool     `json:"echoCorrelation"`
	CancelAfter     int      `json:"cancelAfter,omitempty"` // stream caller: cancel after this many responses
}

type scriptEvent struct {
	Event   string   `json:"event"` // "ready", "request", "reply"; stream caller: "message", "end"
	Message *wireMsg `json:"message"`
	Bodies  [][]byte `json:"bodies"` // stream caller, "end": the data bodies in index order
}

func (c *scriptClient) command(ctx context.Context, script string, cfg scriptConfig) *exec.Cmd {
	cfg.TimeoutMs = clientTimeout.Milliseconds()
	args := append(append([]string(nil), c.cmd[1:]...), filepath.Join(c.dir, script), mustJSON(cfg))
	cmd := exec.CommandContext(ctx, c.cmd[0], args...)
	cmd.Dir = c.dir
	cmd.Env = append(os.Environ(), c.env...)
	cmd.WaitDelay = time.Second
	return cmd
}

func (c *scriptClient) call(ctx context.Context, b *brokertest.Broker, s callSpec) (*wireMsg, error) {
	msg := s.Msg
	out, err := runOutput(c.command(ctx, c.caller, scriptConfig{
		URL: b.URL, Version: int(s.Version), Topic: s.Topic, ReplyTopic: s.ReplyTopic, Msg: &msg,
	}))
	if err != nil {
		return nil, err
	}
	for line := range strings.Lines(string(out)) {
		var ev scriptEvent
		if err := json.Unmarshal([]byte(line), &ev); err != nil {
			return nil, fmt.Errorf("%s: bad output line %q: %w", c.caller, line, err)
		}
		if ev.Event == "reply" && ev.Message != nil {
			return ev.Message, nil
		}
	}
	return nil, fmt.Errorf("%s printed no reply: %q", c.caller, out)
}

func (c *scriptClient) respond(ctx context.Context, b *brokertest.Broker, s respondSpec) (responder, error) {
	reply := s.Reply
	cmd := c.command(ctx, c.responder, scriptConfig{
		URL: b.URL, Version: int(s.Version), Topic: s.Topic, ReplyTopic: s.ReplyTopic,
		Reply: &reply, EchoCorrelation: s.EchoCorrelation,
	})
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	r := &scriptResponder{ready: make(chan struct{}), done: make(chan struct{})}
	go func() { // ends when the script exits: after its reply, its timeout or ctx
		defer close(r.done)
		var out bytes.Buffer
		ready := false
		sc := bufio.NewScanner(stdout)
		sc.Buffer(nil, 1<<20)
		for sc.Scan() {
			out.Write(sc.Bytes())
			out.WriteByte('\n')
			var ev scriptEvent
			if json.Unmarshal(sc.Bytes(), &ev) != nil {
				continue // reported below if no request came
			}
			switch {
			case ev.Event == "ready" && !ready:
				ready = true
				close(r.ready)
			case ev.Event == "request":
				r.req = ev.Message
			}
		}
		if err := cmd.Wait(); err != nil {
			r.err = fmt.Errorf("%s: %w\nstdout: %s\nstderr: %s", c.responder, err, out.Bytes(), stderr.Bytes())
		} else if r.req == nil {
			r.err = fmt.Errorf("%s reported no request: %q", c.responder, out.Bytes())
		}
	}()
	select {
	case <-r.ready:
		return r, nil
	case <-r.done:
		if r.err == nil {
			r.err = errors.New(c.responder + " exited before subscribing")
		}
		return nil, r.err
	}
}

type scriptResponder struct {
	ready chan struct{} // closed once subscribed
	done  chan struct{} // closed when the script has exited; req and err are set
	req   *wireMsg
	err   error
}

func (r *scriptResponder) wait() (*wireMsg, error) {
	<-r.done
	return r.req, r.err
}
