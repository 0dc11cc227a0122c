package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"time"

	"github.com/mqttrpc/mqttrpc"
)

const serveHelp = `Usage: mqttrpc serve PATTERN (--echo | --reply TEXT | --exec CMD) [FLAGS]

Answers requests on PATTERN, an MQTT topic filter whose wildcard levels may
be named: devices/{id}/reboot subscribes to devices/+/reboot. Runs until
SIGINT or SIGTERM, then stops taking requests, lets running ones finish and
exits (a second signal exits at once).

PATTERN is served as an endpoint of a service, so that ls, ping, info, stats
and docs find it, and stats counts its requests.

What to answer, exactly one of:
      --echo                reply with the request's body
      --reply TEXT          reply with TEXT
      --exec CMD            run CMD with sh -c for each request: the body on its stdin,
                            its stdout as the reply; a non-zero exit status is an error
                            reply (500) carrying its stderr, trimmed to 1 KiB
      --stream              with --exec: serve a stream, each line CMD prints on stdout
                            sent as one response as it comes; CMD's exit ends the stream
                            (a non-zero status with an error status carrying its stderr);
                            a caller that cancels stops CMD with SIGTERM
      --kill-after D        with --stream: how long CMD has to exit after SIGTERM before
                            it is killed with SIGKILL (default 5s)
CMD's environment has, besides the server's own:
  MQTTRPC_TOPIC, MQTTRPC_PATTERN, MQTTRPC_CONTENT_TYPE, MQTTRPC_QOS,
  MQTTRPC_CORRELATION_ID (or MQTTRPC_CORRELATION_ID_HEX when it is not text),
  MQTTRPC_HEADER_<KEY> for each header, MQTTRPC_PARAM_<NAME> for each {name}
  in PATTERN; KEY and NAME in upper case, other characters than A-Z, 0-9 as _.

Flags:
      --concurrency N       requests served at once (default 64)
      --timeout D           execution timeout: past it the caller gets a 408 and CMD is
                            killed (default: none beyond the request's own expiry)
  -q, --qos N               QoS of the subscription: 0, 1 or 2 (default 0); replies go
                            at the request's QoS
  -r, --reply-topic TOPIC   where replies go when a request names no Response Topic:
                            needed on MQTT 3.1.1
      --type T              send --reply and CMD's output as text (text/plain, the
                            default), json (checked, application/json) or bytes
      --drain D             how long to wait for running requests on exit (default 10s)
  -v, --verbose             log each request served on stderr

Discovery flags:
      --service NAME        the service's name: letters, digits, '-' and '_'
                            (default mqttrpc-serve)
      --service-version V   its semantic version (default 0.0.0)
      --description TEXT    what it does, for ls and info
      --endpoint NAME       the endpoint's name (default "default")
      --prefix P            discovery topic prefix (default mqttrpc/srv)
      --no-discovery        serve PATTERN alone, unseen by discovery: for a broker that
                            refuses the discovery topics, or a PATTERN that overlaps
                            them on MQTT 3.1.1 or a broker without Subscription Identifiers
` + connHelp

// serveFlags are the flags of the serve command.
type serveFlags struct {
	conn        connFlags
	echo        bool
	reply       string
	replySet    bool
	exec        string
	stream      bool
	killAfter   time.Duration
	concurrency int
	timeout     time.Duration
	qos         uint
	replyTopic  string
	bodyType    string
	drain       time.Duration
	verbose     bool

	service     mqttrpc.ServiceConfig
	endpoint    string
	prefix      string
	noDiscovery bool
}

// The service and endpoint serve registers unless told otherwise: a name
// that says what started it, the lowest semantic version for a server that
// has no release of its own, and nats micro's name for a service's one
// endpoint.
const (
	defaultService  = "mqttrpc-serve"
	defaultVersion  = "0.0.0"
	defaultEndpoint = "default"
)

// discoveryFlags are the flags that describe the service, which
// --no-discovery leaves without a use.
var discoveryFlags = []string{"service", "service-version", "description", "endpoint", "prefix"}

// runServe is the serve command.
func runServe(ctx context.Context, args []string, s streams) error {
	var f serveFlags
	pattern, err := f.parse(args, s)
	if err != nil {
		return err
	}
	h, err := f.handler(pattern, s)
	if err != nil {
		return err
	}
	opts, err := f.subscribeOptions(s)
	if err != nil {
		return err
	}

	b, err := f.conn.connectWaiting(ctx, mqttrpc.WithLogger(f.logger(s)), mqttrpc.WithDiscoveryPrefix(f.prefix))
	if err != nil {
		return err
	}
	sub, svc, err := f.subscribe(ctx, b, pattern, h, opts)
	if err != nil {
		closeBroker(b)
		return err
	}
	fmt.Fprintf(s.stderr, "mqttrpc: serving %s (filter %s)%s on %s\n", sub.Pattern(), sub.Filter(), f.as(svc), b.Server())
	<-ctx.Done()
	return drain(b, f.drain)
}

// subscribe subscribes h to pattern as the endpoint of the service the
// flags describe, which it starts, or with --no-discovery as a plain
// Subscriber and a nil Service.
func (f *serveFlags) subscribe(ctx context.Context, b *mqttrpc.Broker, pattern string, h mqttrpc.Handler, opts []mqttrpc.SubscribeOption) (*mqttrpc.Subscription, *mqttrpc.Service, error) {
	if f.noDiscovery {
		sub, err := b.Subscriber(ctx, pattern, h, opts...)
		return sub, nil, err
	}
	svc, err := b.Service(ctx, f.service)
	if errors.Is(err, mqttrpc.ErrRefused) { // an ACL that allows PATTERN alone
		return nil, nil, withoutDiscoveryHint(err)
	}
	if err != nil {
		return nil, nil, err
	}
	sub, err := svc.Endpoint(ctx, f.endpoint, pattern, h, opts...)
	if errors.Is(err, mqttrpc.ErrFeatureNotSupported) { // PATTERN overlaps discovery's filters
		return nil, nil, withoutDiscoveryHint(err)
	}
	return sub, svc, err
}

// withoutDiscoveryHint adds to err, which discovery caused, how to serve
// without it, as serve did before discovery was its default.
func withoutDiscoveryHint(err error) error {
	return fmt.Errorf("%w (--no-discovery serves PATTERN without discovery)", err)
}

// as says, for the line that tells serving has begun, which endpoint of
// which service instance serves; nothing without a service.
func (f *serveFlags) as(svc *mqttrpc.Service) string {
	if svc == nil {
		return ""
	}
	return fmt.Sprintf(" as endpoint %s of service %s %s, instance %s,", f.endpoint, svc.Name(), f.service.Version, svc.ID())
}

// parse parses the command line into f and returns the pattern.
func (f *serveFlags) parse(args []string, s streams) (string, error) {
	fs := newFlagSet("serve")
	f.conn.register(fs)
	boolFlags(fs, &f.echo, "echo")
	stringFlags(fs, &f.reply, "", "reply")
	stringFlags(fs, &f.exec, "", "exec")
	boolFlags(fs, &f.stream, "stream")
	fs.DurationVar(&f.killAfter, "kill-after", 5*time.Second, "")
	fs.IntVar(&f.concurrency, "concurrency", 64, "")
	fs.DurationVar(&f.timeout, "timeout", 0, "")
	fs.UintVar(&f.qos, "q", 0, "")
	fs.UintVar(&f.qos, "qos", 0, "")
	stringFlags(fs, &f.replyTopic, "", "r", "reply-topic")
	stringFlags(fs, &f.bodyType, typeText, "type")
	fs.DurationVar(&f.drain, "drain", 10*time.Second, "")
	boolFlags(fs, &f.verbose, "v", "verbose")
	stringFlags(fs, &f.service.Name, defaultService, "service")
	stringFlags(fs, &f.service.Version, defaultVersion, "service-version")
	stringFlags(fs, &f.service.Description, "", "description")
	stringFlags(fs, &f.endpoint, defaultEndpoint, "endpoint")
	stringFlags(fs, &f.prefix, mqttrpc.DefaultDiscoveryPrefix, "prefix")
	boolFlags(fs, &f.noDiscovery, "no-discovery")
	pos, err := parseArgs(fs, args, serveHelp, s.stdout)
	if err != nil {
		return "", err
	}
	f.replySet = isSet(fs, "reply")
	if err := f.checkDiscovery(fs); err != nil {
		return "", err
	}
	if len(pos) != 1 {
		return "", usagef("want one PATTERN, got %d arguments", len(pos))
	}
	return pos[0], nil
}

// checkDiscovery checks the discovery flags that can be checked before
// connecting; Broker.Service checks the service's name and version.
func (f *serveFlags) checkDiscovery(fs *flag.FlagSet) error {
	if !f.noDiscovery {
		return checkPrefix(f.prefix)
	}
	for _, name := range discoveryFlags {
		if isSet(fs, name) {
			return usagef("--%s describes the service that --no-discovery leaves out", name)
		}
	}
	return nil
}

// isSet reports whether the flag name was given.
func isSet(fs *flag.FlagSet, name string) bool {
	set := false
	fs.Visit(func(fl *flag.Flag) { set = set || fl.Name == name })
	return set
}

// handler returns the handler the flags ask for.
func (f *serveFlags) handler(pattern string, s streams) (mqttrpc.Handler, error) {
	n := 0
	for _, set := range []bool{f.echo, f.replySet, f.exec != ""} {
		if set {
			n++
		}
	}
	if n != 1 {
		return nil, usagef("want exactly one of --echo, --reply and --exec")
	}
	if err := checkType(f.bodyType); err != nil {
		return nil, err
	}
	if f.stream && f.exec == "" {
		return nil, usagef("--stream streams what --exec CMD prints: give --exec")
	}
	if f.killAfter <= 0 {
		return nil, usagef("--kill-after %v: want a positive duration", f.killAfter)
	}
	switch {
	case f.echo:
		return mqttrpc.HandlerFunc(echo), nil
	case f.replySet:
		body, err := typedBody([]byte(f.reply), f.bodyType)
		if err != nil {
			return nil, usagef("--reply with --type json: %v", err)
		}
		return mqttrpc.HandlerFunc(func(context.Context, *mqttrpc.Message) (*mqttrpc.Response, error) {
			return &mqttrpc.Response{Body: body}, nil
		}), nil
	}
	h := &execHandler{cmd: f.exec, pattern: pattern, params: patternParams(pattern), bodyType: f.bodyType}
	if f.stream {
		return mqttrpc.StreamFunc((&execStream{execHandler: h, killAfter: f.killAfter, log: f.logger(s)}).serve), nil
	}
	return h, nil
}

// subscribeOptions checks the serving flags and returns them as options
// for Broker.Subscriber.
func (f *serveFlags) subscribeOptions(s streams) ([]mqttrpc.SubscribeOption, error) {
	if f.qos > 2 {
		return nil, usagef("--qos %d: want 0, 1 or 2", f.qos)
	}
	if f.concurrency < 1 {
		return nil, usagef("--concurrency %d: want 1 or more", f.concurrency)
	}
	if f.timeout < 0 {
		return nil, usagef("--timeout %v: want a positive duration", f.timeout)
	}
	v, err := f.conn.protocol()
	if err != nil {
		return nil, err
	}
	if v == mqttrpc.V311 && f.stream {
		return nil, usagef("--stream: MQTT 3.1.1 has no User Properties to carry a stream")
	}
	if v == mqttrpc.V311 && f.replyTopic == "" {
		return nil, usagef("MQTT 3.1.1 requests name no reply topic: give one with --reply-topic")
	}
	opts := []mqttrpc.SubscribeOption{mqttrpc.QoS(byte(f.qos)), mqttrpc.Concurrency(f.concurrency)}
	if f.timeout > 0 {
		opts = append(opts, mqttrpc.ExecutionTimeout(f.timeout))
	}
	if f.replyTopic != "" {
		opts = append(opts, mqttrpc.ReplyTopic(f.replyTopic))
	}
	if f.verbose {
		opts = append(opts, mqttrpc.Use(mqttrpc.Logging(f.logger(s))))
	}
	return opts, nil
}

// logger returns the logger for the Broker and, with -v, for each request:
// on stderr, at Info with -v and Warn without.
func (f *serveFlags) logger(s streams) *slog.Logger {
	level := slog.LevelWarn
	if f.verbose {
		level = slog.LevelInfo
	}
	return slog.New(slog.NewTextHandler(s.stderr, &slog.HandlerOptions{Level: level}))
}

// drain closes b, letting running requests finish for at most d.
func drain(b *mqttrpc.Broker, d time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	if err := b.Close(ctx); err != nil {
		return fmt.Errorf("requests still running after --drain %v: %w", d, err)
	}
	return nil
}

// echo replies with the request's body, and with its content type as far
// as the library can send it (text/plain and JSON; any other type is lost).
func echo(_ context.Context, m *mqttrpc.Message) (*mqttrpc.Response, error) {
	var body any = m.Body
	switch {
	case len(m.Body) == 0:
		body = nil
	case m.ContentType == "text/plain":
		body = string(m.Body)
	case isJSON(m.ContentType):
		if b, err := typedBody(m.Body, typeJSON); err == nil {
			body = b
		}
	}
	return &mqttrpc.Response{Body: body}, nil
}
