package mqttrpc

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/url"
	"slices"
	"strings"
	"time"
)

// The transport reports connection events; the methods here turn them into
// the Broker's state: ready once connected with every subscription restored.

// Tests set these, before any Broker exists, to run code between reading the
// handler table and sending the SUBSCRIBE built from it.
var (
	testHookRestore     func(*Broker) // in subscribeAll
	testHookResubscribe func(*Broker) // in subscribeHandlers
)

// awaitFirstConnection waits for the Broker to be ready, for a failure that
// retrying cannot mend, or for ctx and the connect timeout to end. Its error
// carries the last connection error, which says why.
func (b *Broker) awaitFirstConnection(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, b.cfg.connectTimeout)
	defer cancel()
	ready := b.conn.readyChan() // not replaced before it is first closed
	var err error
	select {
	case <-ready:
		return nil
	case <-b.conn.refused:
	case <-ctx.Done():
		err = ctx.Err()
	}
	return firstConnectionError(err, b.conn.lastError())
}

// firstConnectionError says why Connect gave up: waitErr, the end of its
// wait (nil if connecting was refused for good), caused by last, the last
// attempt's error.
func firstConnectionError(waitErr, last error) error {
	switch {
	case waitErr == nil && errors.Is(last, ErrRefused):
		return last
	case waitErr == nil:
		return failWith(ErrRefused, last) // a permanent failure: a certificate, a TLS alert
	case last == nil:
		return waitErr
	case errors.Is(waitErr, context.DeadlineExceeded):
		return failWith(ErrTimeout, last)
	}
	return failWith(waitErr, last)
}

// connectFailed records why connecting failed. A failure that retrying cannot
// mend (credentials, authorization, certificate, a refused reply inbox) ends
// Connect's wait at once; the Broker still retries in the background.
func (b *Broker) connectFailed(err error) {
	b.conn.failed(err, permanent(err))
}

// refusedByBroker reports whether the broker refused a subscription: with
// a failure reason code, or for a feature it lacks.
func refusedByBroker(err error) bool {
	return errors.Is(err, ErrRefused) || errors.Is(err, ErrFeatureNotSupported)
}

func permanent(err error) bool {
	var cve *tls.CertificateVerificationError
	return errors.Is(err, ErrRefused) || errors.As(err, &cve) || refusedByTLSAlert(err)
}

// refusedByTLSAlert reports whether err is a TLS alert in which the server
// refuses this client's certificate, TLS version or ciphers: a setting to
// change, not a failure to retry. crypto/tls reports a received alert as a
// *net.OpError with Op "remote error" around an unexported type, so the
// alert is known by its text.
func refusedByTLSAlert(err error) bool {
	var op *net.OpError
	if !errors.As(err, &op) || op.Op != "remote error" || op.Err == nil {
		return false
	}
	alert := op.Err.Error()
	for _, final := range []string{"certificate", "access denied", "handshake failure", "protocol version", "insufficient security"} {
		if strings.Contains(alert, final) {
			return true
		}
	}
	return false
}

func (b *Broker) events() events {
	return events{
		message:      b.deliver,
		up:           b.connectionUp,
		down:         b.connectionDown,
		connectError: b.connectError,
	}
}

// connectionUp starts restoring the subscriptions of a new connection. It
// runs on the transport's goroutine, which must not block, so the restore
// runs on its own goroutine.
func (b *Broker) connectionUp(server *url.URL) {
	var redacted string
	if server != nil {
		redacted = server.Redacted()
	}
	gen := b.conn.connected(redacted)
	b.log.Info("mqttrpc: connected", "server", b.Server(), "version", b.cfg.version.String(), "client_id", b.cfg.clientID)
	if b.restores.Add() { // fails once Close has waited for restores
		go func() { // ends when the subscriptions are restored, or the connection or Broker is gone
			defer b.restores.Done()
			b.restore(gen)
		}()
	}
}

func (b *Broker) connectionDown() {
	wasReady, lost := b.conn.lost()
	b.stats.disconnects.Add(1)
	b.log.Warn("mqttrpc: connection lost; reconnecting", "server", lost)
	if wasReady {
		b.setState(StateChange{State: StateDisconnected, Server: lost})
	}
}

// Server returns the URL of the server the Broker is connected to, or was
// last connected to while it reconnects, with any password masked. With
// [WithServers] it changes when the Broker moves to another server.
func (b *Broker) Server() string {
	return b.conn.serverURL()
}

// Servers returns the URLs of every server the Broker may connect to, in the
// order it tries them (see [WithServers]), with any password masked.
func (b *Broker) Servers() []string {
	return slices.Clone(b.urls)
}

// ClientID returns the MQTT client identifier the Broker connects with: the
// one [WithClientID] gave, or the one generated at [Connect].
func (b *Broker) ClientID() string { return b.cfg.clientID }

// Version returns the MQTT protocol version the Broker speaks.
func (b *Broker) Version() Version { return b.cfg.version }

func (b *Broker) setState(s StateChange) {
	if !b.notes.notify(s) {
		b.log.Warn("mqttrpc: state handler is behind; state change dropped", "state", s.State.String(), "server", s.Server)
	}
}

func (b *Broker) connectError(err error) {
	b.connectFailed(err)
	b.log.Warn("mqttrpc: connection attempt failed", "err", err)
}

// restore subscribes the reply inbox, every handler and every reply topic on
// connection gen, then marks the Broker ready. The broker session is not
// kept across connections, so this is what makes RPC survive a reconnect.
// It retries while gen is the current connection; a refused handler filter or
// reply topic is logged and skipped, so that one ACL rule does not stop all
// RPC, and refused handler filters are tried again (see resubscribe).
func (b *Broker) restore(gen int) {
	<-b.dialed // the first connection can come up before dial has returned
	wait := backoff(b.cfg.backoffMin, b.cfg.backoffMax)
	for attempt := 0; b.current(gen); attempt++ {
		if attempt > 0 {
			select {
			case <-time.After(wait(attempt)):
			case <-b.handlerCtx.Done():
				return
			}
		}
		refused, err := b.subscribeAll()
		if err != nil {
			b.connectFailed(err)
			b.log.Error("mqttrpc: restoring subscriptions failed", "err", err)
			if permanent(err) {
				return // the inbox is refused: nothing can be answered on this connection
			}
			continue
		}
		if ready, server := b.conn.markReady(gen); ready {
			b.setState(StateChange{State: StateConnected, Server: server})
		}
		b.resubscribe(gen, refused)
		return
	}
}

// resubscribe subscribes again, with the reconnect backoff, the handler
// filters that connection gen refused: a broker may refuse for a while only
// (a cluster node recovering from the loss of another answers 0x80 until it
// has), and a handler left unsubscribed would miss every request until the
// next reconnect. It ends once none is refused, or when the connection or
// the Broker is gone; a filter whose handler was unsubscribed meanwhile is
// dropped, and unsubscribed again where the broker may have taken it after
// the handler's UNSUBSCRIBE (see dropUnserved).
func (b *Broker) resubscribe(gen int, refused []string) {
	wait := backoff(b.cfg.backoffMin, b.cfg.backoffMax)
	for attempt := 1; len(refused) > 0; attempt++ {
		select {
		case <-time.After(wait(attempt)):
		case <-b.closing:
			return
		}
		if !b.current(gen) {
			return
		}
		refused = b.subscribeHandlers(refused)
	}
}

// subscribeHandlers subscribes the handlers of filters and returns the
// filters that failed again.
func (b *Broker) subscribeHandlers(filters []string) (failed []string) {
	table, subs := b.handlerSubscriptions(filters)
	if len(subs) == 0 {
		return nil
	}
	if testHookResubscribe != nil {
		testHookResubscribe(b)
	}
	ctx, cancel := context.WithTimeout(b.handlerCtx, b.cfg.connectTimeout)
	defer cancel()
	var accepted []string
	for i, err := range b.t.subscribe(ctx, subs) {
		if err != nil {
			b.log.Debug("mqttrpc: subscription refused again", "filter", subs[i].filter, "err", err)
			failed = append(failed, subs[i].filter)
			continue
		}
		b.log.Info("mqttrpc: subscription accepted after a refusal", "filter", subs[i].filter)
		accepted = append(accepted, subs[i].filter)
	}
	b.dropUnserved(table, accepted)
	return failed
}

// handlerSubscriptions returns the handler table and what to subscribe for
// the handlers of filters in it.
func (b *Broker) handlerSubscriptions(filters []string) (table *routes, subs []filterSpec) {
	b.mu.Lock() // for the identifiers
	defer b.mu.Unlock()
	table = b.routes.Load()
	for _, f := range filters {
		if s := table.get(f); s != nil {
			subs = append(subs, s.filterSpec())
		}
	}
	return table, subs
}

// dropUnserved unsubscribes, in the background, those of the handler filters
// just subscribed from table that no handler serves any more.
//
// The SUBSCRIBE was built from table before it was sent, and
// [Subscription.Unsubscribe] may have run in between: if its UNSUBSCRIBE
// reached the broker first, the broker keeps the filter for no handler, and
// its requests come to this Broker to find no handler instead of finding no
// subscriber, for as long as the connection lasts. Unsubscribe takes the
// handler out of the table before it sends its UNSUBSCRIBE, so once the
// SUBACK is in, any removal that the broker can have seen first is in the
// table read here.
//
// A filter still in the table is left alone, whichever Subscription now has
// it: the table allows one per filter. Only a filter found missing is
// unsubscribed, and a Subscriber for it that comes after this check and
// before that UNSUBSCRIBE may have its own SUBSCRIBE undone: the window a
// failed Subscriber leaves too when it unsubscribes later, here only right
// after the filter's handler was unsubscribed.
func (b *Broker) dropUnserved(table *routes, filters []string) {
	now := b.routes.Load()
	if now == table {
		return // the table is replaced on every change
	}
	for _, f := range filters {
		if !now.serves(f) {
			b.log.Debug("mqttrpc: unsubscribing a filter unsubscribed while it was subscribed again", "filter", f)
			b.unsubscribeLater(f)
		}
	}
}

// current reports whether gen is the connection that is up now.
func (b *Broker) current(gen int) bool {
	return b.conn.isCurrent(gen) && b.handlerCtx.Err() == nil
}

// subscribeAll subscribes every filter the Broker needs on a connection, in
// as few packets as the protocol allows. It returns the filters refused.
func (b *Broker) subscribeAll() (refused []string, err error) {
	ctx, cancel := context.WithTimeout(b.handlerCtx, b.cfg.connectTimeout)
	defer cancel()
	table, subs, inbox := b.subscriptions()
	if testHookRestore != nil {
		testHookRestore(b)
	}
	errs := b.t.subscribe(ctx, subs)
	var accepted []string
	for i := inbox + 1; i <= inbox+table.len(); i++ { // the handlers follow the inbox
		if errs[i] == nil {
			accepted = append(accepted, subs[i].filter)
		}
	}
	b.dropUnserved(table, accepted)
	for i, err := range errs {
		switch {
		case err == nil:
		case refusedByBroker(err) && i != inbox:
			b.log.Error("mqttrpc: subscription refused; serving the others", "filter", subs[i].filter, "err", err)
			b.forgetRefused(subs[i].filter)
			refused = append(refused, subs[i].filter)
		default:
			return nil, fmt.Errorf("subscribe %q: %w", subs[i].filter, err) // the cause of a connect error
		}
	}
	return refused, nil
}

// subscriptions returns the handler table and lists every filter the Broker
// needs on a connection: the reply inbox first, at index inbox (-1 on MQTT
// 3.1.1, which has none), then the handlers in table order, then the reply
// topics.
func (b *Broker) subscriptions() (table *routes, subs []filterSpec, inbox int) {
	inbox = -1
	if b.t.properties() {
		// QoS 2 so that a reply arrives at the QoS its responder chose.
		inbox, subs = 0, append(subs, filterSpec{filter: b.inbox + "+", qos: 2})
	}
	b.mu.Lock() // for the identifiers
	table = b.routes.Load()
	for _, s := range table.sorted() {
		subs = append(subs, s.filterSpec())
	}
	b.mu.Unlock()
	replies := b.replies.index.Load()
	for t := range replies.topics {
		subs = append(subs, filterSpec{filter: t, qos: 2, fresh: true})
	}
	for _, ti := range replies.tokens {
		subs = append(subs, filterSpec{filter: ti.filter, qos: 2, fresh: true})
	}
	return table, subs, inbox
}

// awaitReady waits until the Broker is connected with its subscriptions in
// place, so nothing is published that could not be answered.
func (b *Broker) awaitReady(ctx context.Context) error {
	select {
	case <-b.closed: // checked first: a closed Broker may still look ready
		return ErrClosed
	default:
	}
	ready := b.conn.readyChan()
	select {
	case <-ready:
		return nil // without asking ctx for Done, which may make a timer
	default:
	}
	select {
	case <-ready:
		return nil
	case <-b.closed:
		return ErrClosed
	case <-ctx.Done():
		switch {
		case b.isClosing():
			return ErrClosed
		case errors.Is(ctx.Err(), context.DeadlineExceeded):
			return failWith(ErrTimeout, ErrDisconnected) // both: retrying later may help
		}
		return ctx.Err()
	}
}
