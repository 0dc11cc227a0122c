package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"time"

	"github.com/mqttrpc/mqttrpc"
)

const uiHelp = `Usage: mqttrpc ui [FLAGS]

Serves the explorer, a web page that lists the services that answer
discovery and calls their endpoints, until SIGINT or SIGTERM. Open the URL
it prints in a browser.

The page speaks MQTT 5 over WebSocket. When -s names a ws:// or wss:// URL,
the page connects to that broker itself; otherwise it connects to /mqtt on
this server, which relays each WebSocket to a TCP (or TLS) connection to the
first -s, so the broker needs no WebSocket listener. The page gets the
broker's address and the -u and -P credentials from /config.json: anyone who
can open the page can call every service with them.

So on a non-loopback --listen address, ui requires a password of its own
(--ui-password-file, or $MQTTRPC_UI_PASSWORD) and then asks every request
for it with HTTP Basic authentication, under any user name. It may be set on
loopback too. Without one, ui answers only requests addressed to localhost
or a loopback address.

Flags:
      --listen ADDR         HTTP address to listen on (default 127.0.0.1:8080)
      --ui-password-file FILE
                            the page's password, FILE's first line (default
                            $MQTTRPC_UI_PASSWORD); required off loopback
      --prefix PREFIX       discovery topic prefix the page asks (default mqttrpc/srv)
` + connHelp

// uiFlags are the flags of the ui command.
type uiFlags struct {
	conn         connFlags
	listen       string
	passwordFile string
	prefix       string
}

// uiDefaultListen is where ui listens unless --listen says otherwise:
// loopback, where no password is needed.
const uiDefaultListen = "127.0.0.1:8080"

// envUIPassword stands in for --ui-password-file.
const envUIPassword = "MQTTRPC_UI_PASSWORD"

// uiShutdownTimeout bounds how long ui waits for requests under way when
// it stops.
const uiShutdownTimeout = 2 * time.Second

// runUI is the ui command.
func runUI(ctx context.Context, args []string, s streams) error {
	var f uiFlags
	fs := newFlagSet("ui")
	f.conn.register(fs)
	stringFlags(fs, &f.listen, uiDefaultListen, "listen")
	stringFlags(fs, &f.passwordFile, "", "ui-password-file")
	stringFlags(fs, &f.prefix, mqttrpc.DefaultDiscoveryPrefix, "prefix")
	pos, err := parseArgs(fs, args, uiHelp, s.stdout)
	if err != nil {
		return err
	}
	if len(pos) != 0 {
		return usagef("want no arguments, got %q", pos)
	}
	h, target, err := f.handler(s)
	if err != nil {
		return err
	}
	defer h.relay.close()
	ln, err := net.Listen("tcp", f.listen)
	if err != nil {
		return err
	}
	fmt.Fprintf(s.stderr, "mqttrpc: explorer on http://%s/ (broker %s)\n", ln.Addr(), target.Redacted())
	return serveUI(ctx, ln, h)
}

// handler checks the flags, warns about an address off loopback, and
// returns the server's handler and the broker the page is to reach.
func (f *uiFlags) handler(s streams) (*uiHandler, *url.URL, error) {
	v, err := f.conn.protocol()
	if err != nil {
		return nil, nil, err
	}
	if v != mqttrpc.V5 {
		return nil, nil, usagef("the explorer speaks MQTT 5 only, not -V %s", f.conn.version)
	}
	if f.conn.clientID != "" {
		return nil, nil, usagef("--client-id: the page picks a client ID for each connection")
	}
	if _, err := f.conn.options(); err != nil { // checks the rest of the connection flags
		return nil, nil, err
	}
	if err := checkPrefix(f.prefix); err != nil {
		return nil, nil, err
	}
	password, err := f.password()
	if err != nil {
		return nil, nil, err
	}
	public, err := offLoopback(f.listen)
	if err != nil {
		return nil, nil, err
	}
	if public {
		if password == "" {
			return nil, nil, usagef("--listen %s is not a loopback address: give the page a password with --ui-password-file FILE or $%s", f.listen, envUIPassword)
		}
		fmt.Fprintf(s.stderr, "mqttrpc ui: warning: listening on %s, off loopback: anyone who can reach it and knows the page's password can call every service with the broker credentials the page is given\n", f.listen)
	}
	h, err := newUIHandler(f, password)
	if err != nil {
		return nil, nil, err
	}
	return h, h.target, nil
}

// serveUI serves h on ln until ctx ends, then stops: no new connections,
// requests under way get uiShutdownTimeout, and relayed connections close.
func serveUI(ctx context.Context, ln net.Listener, h *uiHandler) error {
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	var err error
	select {
	case err = <-served:
	case <-ctx.Done():
		stopCtx, cancel := context.WithTimeout(context.Background(), uiShutdownTimeout)
		defer cancel()
		if srv.Shutdown(stopCtx) != nil {
			srv.Close()
		}
		err = <-served
	}
	h.relay.close()
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}
