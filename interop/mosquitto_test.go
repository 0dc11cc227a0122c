package interop

import (
	"bufio"
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mqttrpc/mqttrpc"
	"github.com/mqttrpc/mqttrpc/internal/brokertest"
)

// TestMosquittoClients runs the matrix with mosquitto_rr, mosquitto_sub and
// mosquitto_pub (Debian package mosquitto-clients).
func TestMosquittoClients(t *testing.T) {
	t.Parallel()
	runMatrix(t, newMosquittoClients(t))
}

// mosquittoClients drives the mosquitto command-line clients. On MQTT 5 a
// call is one mosquitto_rr; on MQTT 3.1.1 it is mosquitto_sub waiting on the
// reply topic and mosquitto_pub sending the request. A responder is
// mosquitto_sub taking one message and mosquitto_pub sending the reply.
type mosquittoClients struct {
	rr, sub, pub string
	// stdbuf makes mosquitto_sub line-buffer its stdout: its -d lines are
	// printf'd without a flush, so through a pipe the SUBACK line that
	// subscribeOne waits for would otherwise arrive only when it exits.
	stdbuf string
}

func newMosquittoClients(t *testing.T) *mosquittoClients {
	var c mosquittoClients
	for _, p := range []struct {
		path *string
		name string
	}{{&c.rr, "mosquitto_rr"}, {&c.sub, "mosquitto_sub"}, {&c.pub, "mosquitto_pub"}, {&c.stdbuf, "stdbuf"}} {
		bin, err := exec.LookPath(p.name)
		if err != nil {
			missing(t, "%s not installed (apt-get install mosquitto-clients coreutils)", p.name)
		}
		*p.path = bin
	}
	return &c
}

// binaryID holds no NUL, as the clients take Correlation Data from argv, and
// none of the bytes that recordFormat uses as separators.
func (*mosquittoClients) binaryID() []byte { return []byte("\xff\xfe\x80id") }

// recordFormat makes mosquitto_rr and mosquitto_sub print a message as one
// record that survives any payload: the payload is in hex (%x); topic,
// Response Topic, Correlation Data, Content Type and User Properties follow
// as they are, between ASCII record and unit separators that the tests'
// values never contain.
const recordFormat = "\x1e%t\x1f%x\x1f%R\x1f%D\x1f%C\x1f%P\x1e"

// parseRecord reads the one record in the output of mosquitto_rr or
// mosquitto_sub, which may also hold -d debug lines.
func parseRecord(out []byte) (*wireMsg, error) {
	start, end := bytes.IndexByte(out, 0x1e), bytes.LastIndexByte(out, 0x1e)
	if start < 0 || end <= start {
		return nil, fmt.Errorf("no message in output %q", out)
	}
	f := bytes.Split(out[start+1:end], []byte{0x1f})
	if len(f) != 6 {
		return nil, fmt.Errorf("malformed record %q", out[start:end+1])
	}
	body, err := hex.DecodeString(string(f[1]))
	if err != nil {
		return nil, fmt.Errorf("payload %q: %w", f[1], err)
	}
	m := &wireMsg{
		Topic:          string(f[0]),
		Body:           body,
		ResponseTopic:  string(f[2]),
		ContentType:    string(f[4]),
		UserProperties: parseUserProperties(string(f[5])),
	}
	if len(f[3]) > 0 { // %D prints nothing when there is no Correlation Data
		m.CorrelationData = f[3]
	}
	return m, nil
}

// parseUserProperties reads %P, which prints "k1:v1 k2:v2" without quoting:
// a word with no colon continues the previous value, which is enough for
// values with spaces (such as __stMsg) as long as they hold no colon.
func parseUserProperties(s string) map[string]string {
	props := make(map[string]string)
	var last string
	for _, word := range strings.Split(s, " ") {
		if k, v, ok := strings.Cut(word, ":"); ok {
			props[k], last = v, k
		} else if last != "" {
			props[last] += " " + word
		}
	}
	return props
}

// connArgs are the flags that choose protocol version and broker.
func connArgs(b *brokertest.Broker, v mqttrpc.Version) []string {
	u, err := url.Parse(b.URL)
	if err != nil {
		panic(err) // brokertest makes the URL
	}
	version := "5"
	if v == mqttrpc.V311 {
		version = "mqttv311"
	}
	return []string{"-V", version, "-h", u.Hostname(), "-p", u.Port()}
}

// propertyArgs sets the MQTT 5 properties of a published message. User
// properties go in key order so that runs are repeatable.
func propertyArgs(m wireMsg) []string {
	var args []string
	if m.CorrelationData != nil {
		args = append(args, "-D", "publish", "correlation-data", string(m.CorrelationData))
	}
	if m.ContentType != "" {
		args = append(args, "-D", "publish", "content-type", m.ContentType)
	}
	keys := make([]string, 0, len(m.UserProperties))
	for k := range m.UserProperties {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		args = append(args, "-D", "publish", "user-property", k, m.UserProperties[k])
	}
	return args
}

var waitSecs = strconv.Itoa(int(clientTimeout / time.Second))

func (c *mosquittoClients) call(ctx context.Context, b *brokertest.Broker, s callSpec) (*wireMsg, error) {
	if s.Version == mqttrpc.V5 {
		// mosquitto_rr subscribes to -e, then sends the request with -e as
		// its Response Topic, and prints the first reply.
		args := append(connArgs(b, s.Version),
			"-t", s.Topic, "-e", s.ReplyTopic, "-m", string(s.Msg.Body),
			"-W", waitSecs, "-F", recordFormat)
		args = append(args, propertyArgs(s.Msg)...)
		out, err := runOutput(exec.CommandContext(ctx, c.rr, args...))
		if err != nil {
			return nil, err
		}
		return parseRecord(out)
	}
	// MQTT 3.1.1 has no Response Topic: wait on the handler's reply topic.
	sub, err := c.subscribeOne(ctx, b, s.Version, s.ReplyTopic)
	if err != nil {
		return nil, err
	}
	if err := c.publish(ctx, b, s.Version, s.Topic, s.Msg); err != nil {
		return nil, err
	}
	return sub.wait()
}

func (c *mosquittoClients) respond(ctx context.Context, b *brokertest.Broker, s respondSpec) (responder, error) {
	sub, err := c.subscribeOne(ctx, b, s.Version, s.Topic)
	if err != nil {
		return nil, err
	}
	done := make(chan mosquittoResult, 1)
	go func() { // ends when the reply is published or either client fails
		req, err := sub.wait()
		if err != nil {
			done <- mosquittoResult{err: err}
			return
		}
		to := req.ResponseTopic
		if s.Version == mqttrpc.V311 {
			to = s.ReplyTopic
		}
		reply := s.Reply
		if s.EchoCorrelation {
			reply.CorrelationData = req.CorrelationData
		}
		err = c.publish(ctx, b, s.Version, to, reply)
		done <- mosquittoResult{req, err}
	}()
	return mosquittoResponder(done), nil
}

type mosquittoResult struct {
	msg *wireMsg
	err error
}

type mosquittoResponder chan mosquittoResult

func (r mosquittoResponder) wait() (*wireMsg, error) {
	res := <-r
	return res.msg, res.err
}

// publish sends m with mosquitto_pub at QoS 1, so it has arrived at the
// broker when mosquitto_pub exits. The payload goes through stdin, which
// takes any bytes; -n sends an empty one, which -s refuses.
func (c *mosquittoClients) publish(ctx context.Context, b *brokertest.Broker, v mqttrpc.Version, topic string, m wireMsg) error {
	args := append(connArgs(b, v), "-t", topic, "-q", "1")
	if v == mqttrpc.V5 {
		args = append(args, propertyArgs(m)...)
	}
	cmd := exec.CommandContext(ctx, c.pub)
	if len(m.Body) == 0 {
		args = append(args, "-n")
	} else {
		args = append(args, "-s")
		cmd.Stdin = bytes.NewReader(m.Body)
	}
	cmd.Args = append(cmd.Args, args...)
	_, err := runOutput(cmd)
	return err
}

// subscribeOne starts mosquitto_sub for one message on topic and returns once
// the broker has acknowledged the subscription, which mosquitto_sub reports
// only in its -d debug output.
func (c *mosquittoClients) subscribeOne(ctx context.Context, b *brokertest.Broker, v mqttrpc.Version, topic string) (*oneMessage, error) {
	args := append([]string{"-oL", c.sub}, connArgs(b, v)...)
	args = append(args, "-t", topic, "-q", "1", "-C", "1", "-W", waitSecs, "-d", "-F", recordFormat)
	cmd := exec.CommandContext(ctx, c.stdbuf, args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	cmd.WaitDelay = time.Second
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	s := &oneMessage{subscribed: make(chan struct{}), done: make(chan struct{})}
	go func() { // ends when mosquitto_sub exits: after one message, -W or ctx
		defer close(s.done)
		var out bytes.Buffer
		r := bufio.NewReader(stdout)
		acked := false
		for {
			line, err := r.ReadBytes('\n')
			out.Write(line)
			if !acked && bytes.Contains(line, []byte("received SUBACK")) {
				acked = true
				close(s.subscribed)
			}
			if err != nil {
				if !errors.Is(err, io.EOF) {
					s.err = err
				}
				break
			}
		}
		if err := cmd.Wait(); err != nil {
			s.err = fmt.Errorf("mosquitto_sub -t %s: %w\nstdout: %q\nstderr: %s", topic, err, out.Bytes(), stderr.Bytes())
			return
		}
		s.msg, s.err = parseRecord(out.Bytes())
	}()
	select {
	case <-s.subscribed:
		return s, nil
	case <-s.done:
		if s.err == nil {
			s.err = errors.New("mosquitto_sub exited before subscribing")
		}
		return nil, s.err
	}
}

// oneMessage is a running mosquitto_sub -C 1.
type oneMessage struct {
	subscribed chan struct{} // closed at SUBACK
	done       chan struct{} // closed when it has exited; msg and err are set
	msg        *wireMsg
	err        error
}

func (s *oneMessage) wait() (*wireMsg, error) {
	<-s.done
	return s.msg, s.err
}
