// Package bufconn cuts the system calls the Paho clients make per packet and
// keeps a stalled link from holding their callers.
//
// Both clients read a connection unbuffered, a byte or two at a time; a Conn
// buffers reads. On the write side a Conn gathers complete packets in a
// buffer and writes them in as few system calls as it can:
//
//   - A lone writer writes at once, on its own goroutine: no latency is added
//     when nobody else is writing.
//   - A packet that comes while another write is under way, or while more
//     input waits to be handled (whose acknowledgements will follow), is left
//     in the buffer for the flusher goroutine. The flusher yields once before
//     each write, so the packets that writers and paho's router add meanwhile
//     share one system call. Once packets have met a busy socket, every
//     packet goes to the flusher, until its flushes have found a single
//     packet waiting several times in a row.
//
// So no caller waits on the socket for longer than a short direct-write
// budget: what the socket does not take at once is the flusher's to write.
// The flusher bounds each write by the stall timeout: a link that takes no
// byte for that long is declared dead and closed, and every writer after
// that gets the error. [Conn.WaitWritable] lets a caller wait, within its own
// context, while the buffer is full, so a stalled link holds nobody past
// their deadline and the buffer stays bounded.
//
// On the read side, a Conn on Linux acknowledges at once what each read
// took from the socket (TCP_QUICKACK, on the TCP socket under TLS and
// WebSocket too) once the broker is known to need it. A broker that leaves
// Nagle's algorithm on, as mosquitto does unless set_tcp_nodelay is true,
// holds a small packet back while an earlier one is unacknowledged; a
// client that has nothing to send delays its acknowledgement, by 40 ms at
// first on Linux. Together they made every QoS 1 call on such a broker take
// 44 ms: the broker's PUBACK to the caller goes out at once, and the reply
// that follows waits for its acknowledgement.
//
// An acknowledgement sent at once is a packet of its own, where otherwise
// it would ride on the client's next write; on a broker that holds nothing
// back it buys nothing and costs CPU on both ends (with one caller, a Conn
// that acknowledged every read used 4–20 % more CPU per round trip on a
// nodelay mosquitto, medians of 8 passes on a loaded machine; nothing
// measurable at 64 callers, whose acknowledgements ride on the next write
// anyway; bench/README.md, "A stock mosquitto"). So a Conn
// waits for the sign of a hold: a read that brings data 39–50 ms (plus two
// round-trip times) after the previous one with nothing written in
// between, that is just when the kernel's delayed acknowledgement of the
// previous data went out. From
// then on every Conn to that address (the broker's IP and port, for the
// life of the process) acknowledges at once after every read that reached
// the socket, not after reads from the buffer: Linux drops quick-ack mode
// by itself whenever it judges the connection interactive, so it is asked
// for again each time (0.35–0.5 µs in BenchmarkQuickAck, against 1.4 µs for
// the read of one waiting byte). The price is one hold per broker address
// per process, the first (with mosquitto, usually while connecting: the
// SUBACK of a second subscription waits behind the first); a pause of that
// length with nothing written between (a process starved of CPU, requests
// that come about 45 ms apart) can be taken for a hold too, and costs then
// what acknowledging every read costs.
//
// Other rules were measured and not kept: acknowledging every read (the
// CPU above), asking only just before the next read, and asking only when
// nothing was written since the previous read (which misses the holds:
// the request's write comes before the PUBACK that needs acknowledging).
//
// Other systems have no TCP_QUICKACK, and a Conn leaves their delayed
// acknowledgements as they are: Windows delays one by up to 200 ms by
// default, macOS by up to about 100 ms, so calls on a broker with Nagle's
// algorithm on can wait that long. The remedy there is the broker's:
// mosquitto's set_tcp_nodelay true (or the system's own settings, such as
// Windows' TcpAckFrequency and macOS's net.inet.tcp.delayed_ack).
//
// paho.golang writes every packet between Lock and Unlock (see
// packets.ControlPacket.WriteTo), so Unlock is where its packet is complete;
// paho.mqtt.golang writes each packet whole in one Write, from its one writer
// goroutine, and takes no lock.
package bufconn

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mqttrpc/mqttrpc/internal/wsconn"
)

const (
	// Limit is how many bytes may wait for the socket before WaitWritable
	// makes callers wait.
	Limit = 256 << 10

	// directBudget bounds a writer's own write: what the socket does not
	// take in this time is left to the flusher.
	directBudget = time.Millisecond

	// calmFlushes is how many flushes in a row must find a single packet
	// before writers write at once again.
	calmFlushes = 8

	// closeBudget bounds the flush of what is pending on Close.
	closeBudget = time.Second

	// DefaultStallTimeout is the stall timeout of New when given zero.
	DefaultStallTimeout = 30 * time.Second
)

// ErrStalled is the error of a Conn whose peer took no byte for the stall
// timeout. It wraps [os.ErrDeadlineExceeded].
var ErrStalled = fmt.Errorf("bufconn: the connection took no data for the stall timeout: %w", os.ErrDeadlineExceeded)

// Conn is a net.Conn whose reads are buffered and whose writes are gathered.
// It implements sync.Locker, which paho takes as the promise that concurrent
// packets do not interleave. Its deadlines apply to reads only: writes are
// bounded by the stall timeout.
type Conn struct {
	net.Conn
	r      *bufio.Reader
	inbuf  atomic.Int32  // input buffered but not yet read: its acknowledgements will follow
	writes atomic.Uint64 // write system calls made
	stall  time.Duration
	direct bool       // a writer may write at once: on TCP, not on TLS or WebSocket (see resumable)
	raw    *rawWriter // writes without waiting, where the platform allows; else a deadline bounds them

	pmu    sync.Mutex // held from Lock to Unlock: one packet at a time
	inLock bool       // guarded by pmu: Writes build a packet until Unlock

	mu      sync.Mutex // guards what follows
	buf     []byte     // whole packets, and the packet being built, in order
	spare   []byte     // the buffer last written, reused
	held    int        // bytes taken from buf by the owner and not yet written
	writing bool       // a writer or the flusher owns the socket's write side
	pushes  int        // packets completed since the last take
	batch   bool       // packets came while the socket was busy: leave them all to the flusher
	calm    int        // flushes in a row that found one packet; batch ends at calmFlushes
	err     error      // the first failed write or Close: the connection is dead
	closed  bool
	closeBy time.Time     // set by Close: the flush of what is pending ends by then
	wdl     time.Time     // the deadline of the write under way
	space   chan struct{} // closed when buf falls below Limit; nil if nobody waits

	kick chan struct{} // capacity 1: the flusher owns the socket and has work
	done chan struct{} // closed when the flusher has ended
}

// New wraps c. A write that moves no byte for stall (DefaultStallTimeout if
// zero) kills the connection. New starts the flusher goroutine, which ends on
// Close: the caller must close the Conn.
func New(c net.Conn, stall time.Duration) *Conn {
	if stall <= 0 {
		stall = DefaultStallTimeout
	}
	bc := &Conn{
		Conn:   c,
		stall:  stall,
		direct: resumable(c),
		raw:    newRawWriter(c),
		kick:   make(chan struct{}, 1),
		done:   make(chan struct{}),
	}
	var src io.Reader = c
	if q := newQuickAcker(c); q != nil {
		src = &ackReader{Conn: c, q: q, writes: &bc.writes, peer: peerOf(c)}
	}
	bc.r = bufio.NewReaderSize(src, 32<<10)
	go bc.flusher() // ends when Close has flushed what was pending
	return bc
}

// resumable reports whether a write to c that times out can go on where it
// stopped, as a writer's own write, bounded by the direct-write budget,
// needs. A TCP write can. A TLS or WebSocket write cannot: a timeout
// leaves its record or message half written, and the connection broken.
func resumable(c net.Conn) bool {
	_, ok := c.(*net.TCPConn)
	return ok
}

// ackReader is what a Conn's buffer refills from where the socket can be
// told to acknowledge at once. It does so after every read that brings data
// once the peer is known to hold packets back for acknowledgements; until
// then it watches for the sign that it does (see the package comment).
type ackReader struct {
	net.Conn
	q      *quickAcker
	writes *atomic.Uint64 // the Conn's write count: a write carries the acknowledgement
	peer   *peer

	last       time.Time // when the previous read brought data
	lastWrites uint64    // the write count then
}

func (r *ackReader) Read(p []byte) (int, error) {
	n, err := r.Conn.Read(p)
	if n <= 0 {
		return n, err
	}
	if r.peer.holds.Load() {
		r.q.ack()
		return n, err
	}
	now, w := time.Now(), r.writes.Load()
	if w == r.lastWrites && !r.last.IsZero() {
		if gap := now.Sub(r.last); gap >= holdMin && gap < holdCeil && gap < holdMax+2*r.q.rtt() {
			// Nothing was written since the previous read, so its data
			// was acknowledged only when the delayed-acknowledgement timer
			// fired, and this data came just then (a round trip later):
			// held for it.
			r.peer.holds.Store(true)
			r.q.ack()
		}
	}
	r.last, r.lastWrites = now, w
	return n, err
}

const (
	// A hold ends when the client's delayed acknowledgement reaches the
	// broker, which then sends what it held: 40 ms after the data it
	// acknowledges arrived (Linux's TCP_DELACK_MIN; longer once the kernel
	// has seen the connection as interactive for a while), plus the timer's
	// slack, plus a round trip. The holds measured on stock mosquitto over
	// loopback came to 41.8–44.0 ms. A gap from holdMin to holdMax plus two
	// smoothed round-trip times (the kernel's, read only for a gap that
	// long) is taken for a hold; the band is kept narrow because a pause
	// of the same length for another reason (the broker or the peer client
	// starved of CPU) cannot be told from one.
	holdMin  = 39 * time.Millisecond
	holdMax  = 50 * time.Millisecond
	holdCeil = time.Second // no round-trip time is read for a longer gap
)

// peer is what the Conns to one address have learnt about it.
type peer struct {
	holds atomic.Bool // it has held a packet back for an acknowledgement
}

// peers are the addresses Conns have read from, so that a new Conn to a
// broker known to hold packets back acknowledges at once from its start.
var peers sync.Map // remote address → *peer

func peerOf(c net.Conn) *peer {
	addr := c.RemoteAddr()
	if addr == nil {
		return new(peer) // nothing to share it by: this Conn learns alone
	}
	key := addr.String()
	if p, ok := peers.Load(key); ok {
		return p.(*peer)
	}
	p, _ := peers.LoadOrStore(key, new(peer))
	return p.(*peer)
}

// Read reads from the buffer, refilling it from the connection. Once a
// write has failed, it returns that write's error.
func (c *Conn) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.inbuf.Store(int32(c.r.Buffered()))
	if errors.Is(err, net.ErrClosed) {
		err = c.readError(err)
	}
	return n, err
}

// readError is what a read that found the connection closed returns: the
// error of the write that failed and closed it, if one did. A read blocked
// while the connection is closed under it says only "use of closed network
// connection", which paho.mqtt.golang takes for its own Close and does not
// report as a lost connection: a broker that went away while a write
// failed first was then noticed only by the keepalive, tens of seconds on.
func (c *Conn) readError(closed error) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.err != nil && !errors.Is(c.err, net.ErrClosed) {
		return c.err
	}
	return closed
}

// Lock starts a packet: until Unlock, Writes add to it.
func (c *Conn) Lock() {
	c.pmu.Lock()
	c.inLock = true
}

// Unlock completes the packet and writes it, at once or through the flusher.
// Unlock cannot return an error: a failed write closes the connection, so
// paho's reader sees the failure, and later writes return it.
func (c *Conn) Unlock() {
	c.inLock = false
	c.push()
	c.pmu.Unlock()
}

// Write adds p to the packet between Lock and Unlock, or, outside them, takes
// p as a whole packet. Either way p is copied and Write does not wait for the
// socket; it returns the connection's error once it has failed.
func (c *Conn) Write(p []byte) (int, error) {
	c.mu.Lock()
	if c.err != nil {
		err := c.err
		c.mu.Unlock()
		return 0, err
	}
	c.buf = append(c.buf, p...)
	c.mu.Unlock()
	if !c.inLock { // safe: inLock is only ever set by the goroutine holding pmu
		c.push()
	}
	return len(p), nil
}

// push sees a complete packet to its way: written at once by the caller if
// nobody else writes and no acknowledgements are due, else by the flusher.
func (c *Conn) push() {
	c.mu.Lock()
	c.pushes++
	if c.err != nil || c.writing || len(c.buf) == 0 {
		if c.writing {
			c.batch, c.calm = true, 0
		}
		c.mu.Unlock()
		return // the owner of the socket will take the packet
	}
	c.writing = true
	if c.batch || !c.direct || c.inbuf.Load() > 0 {
		c.mu.Unlock()
		c.kick <- struct{}{} // never blocks: only the owner sends, once
		return
	}
	data := c.take()
	c.mu.Unlock()

	n, err := c.writeAtOnce(data)
	c.mu.Lock()
	defer c.mu.Unlock()
	switch {
	case err == nil:
	case isTimeout(err) && c.err == nil:
		// The socket is full: the flusher writes the rest, before what came
		// since (or, once closing, for as long as Close allows).
		c.buf = append(append(make([]byte, 0, len(data)-n+len(c.buf)), data[n:]...), c.buf...)
	default:
		c.fail(err)
	}
	c.written(data)
	if len(c.buf) > 0 && c.err == nil || c.closed {
		c.kick <- struct{}{} // the flusher owns the socket now
		return
	}
	c.writing = false
}

// take returns the pending bytes and gives buf the spare slice; written
// calls it back once they are written. mu is held.
func (c *Conn) take() []byte {
	data := c.buf
	c.buf, c.spare = c.spare[:0], nil
	c.held = len(data)
	if c.pushes > 1 {
		c.calm = 0
	} else if c.calm++; c.calm >= calmFlushes {
		c.batch = false // nobody else has written for a while: back to writing at once
	}
	c.pushes = 0
	return data
}

// written takes back the slice take returned. mu is held.
func (c *Conn) written(data []byte) {
	c.spare = data[:0]
	c.held = 0
	if c.space != nil && len(c.buf) < Limit {
		close(c.space) // wake WaitWritable
		c.space = nil
	}
}

// flusher writes what writers left in the buffer, each time it is given the
// socket, until the buffer is empty; it ends once the Conn is closed.
func (c *Conn) flusher() {
	defer close(c.done)
	for range c.kick {
		for {
			c.mu.Lock()
			closing := c.closed
			c.mu.Unlock()
			if !closing {
				runtime.Gosched() // let other writers add their packets to this write
			}
			c.mu.Lock()
			if c.err != nil || len(c.buf) == 0 {
				c.writing = false
				closing = c.closed
				c.mu.Unlock()
				if closing {
					return
				}
				break
			}
			data := c.take()
			c.mu.Unlock()
			err := c.writeAll(data)
			c.mu.Lock()
			c.written(data)
			c.fail(err)
			c.mu.Unlock()
		}
	}
}

// writeAtOnce is a writer's own write: what the socket takes now, or within
// the direct-write budget where it cannot be asked without waiting. What is
// left goes to the flusher.
func (c *Conn) writeAtOnce(data []byte) (int, error) {
	if c.raw == nil {
		n, _, err := c.writeWithin(data, directBudget)
		return n, err
	}
	n, err := c.raw.writeNow(data)
	if n > 0 {
		c.writes.Add(1)
	}
	if err == nil && n < len(data) {
		err = os.ErrDeadlineExceeded // the socket is full: as if the budget ran out
	}
	return n, err
}

// writeAll writes data, failing if the socket takes no byte for the stall
// timeout or, once closing, after Close's budget.
func (c *Conn) writeAll(data []byte) error {
	for len(data) > 0 {
		n, closing, err := c.writeWithin(data, c.stall)
		data = data[n:]
		switch {
		case err == nil:
		case isTimeout(err) && n > 0 && c.direct && !closing:
			// Progress, only slow: wait another stall timeout for the rest.
		case isTimeout(err):
			return ErrStalled
		default:
			return err
		}
	}
	return nil
}

// writeWithin makes one write that ends within budget, or by Close's
// deadline if that comes first, and reports whether it was Close's. Only the
// owner of the socket's write side calls it.
func (c *Conn) writeWithin(data []byte, budget time.Duration) (n int, closing bool, err error) {
	deadline := time.Now().Add(budget)
	c.mu.Lock() // so that Close, which sets its own deadline, comes before or after
	if c.closed && c.closeBy.Before(deadline) {
		deadline, closing = c.closeBy, true
	}
	err = c.Conn.SetWriteDeadline(deadline)
	c.wdl = deadline
	c.mu.Unlock()
	if err != nil {
		return 0, closing, err
	}
	n, err = c.Conn.Write(data)
	if n > 0 {
		c.writes.Add(1)
	}
	return n, closing, err
}

// fail records the first error and closes the connection, so that its
// reader sees it too. mu is held.
func (c *Conn) fail(err error) {
	if err == nil || c.err != nil {
		return
	}
	c.err = err
	c.buf = nil
	if c.space != nil {
		close(c.space)
		c.space = nil
	}
	c.Conn.Close()
}

func isTimeout(err error) bool { return errors.Is(err, os.ErrDeadlineExceeded) }

// WaitWritable waits until fewer than [Limit] bytes wait for the socket,
// counting those of a write under way. It
// returns ctx.Err() if ctx ends first, and the connection's error if it has
// failed or is closed. Callers that wait here before writing keep the buffer
// bounded while the link is stalled, and are never held past ctx.
func (c *Conn) WaitWritable(ctx context.Context) error {
	for {
		c.mu.Lock()
		if c.err != nil {
			err := c.err
			c.mu.Unlock()
			return err
		}
		if len(c.buf)+c.held < Limit {
			c.mu.Unlock()
			return nil
		}
		if c.space == nil {
			c.space = make(chan struct{})
		}
		space := c.space
		c.mu.Unlock()
		select {
		case <-space:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// Err returns the error that ended the connection, or nil while it lives.
func (c *Conn) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

// Buffered returns how many bytes wait for the socket, counting those of a
// write under way.
func (c *Conn) Buffered() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.buf) + c.held
}

// Writes returns how many writes of the Conn have moved data.
func (c *Conn) Writes() uint64 { return c.writes.Load() }

// Close writes what is pending, for up to a second, then closes the
// connection and ends the flusher. Later writes return [net.ErrClosed].
func (c *Conn) Close() error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return net.ErrClosed
	}
	c.closed = true
	c.closeBy = time.Now().Add(closeBudget)
	if !c.writing {
		c.writing = true
		c.kick <- struct{}{} // the flusher writes what is pending, then ends
	} else if c.wdl.After(c.closeBy) {
		// Cut a flusher's write blocked on a stalled link short; it then
		// ends. (A writer's own write ends sooner by itself.)
		_ = c.Conn.SetWriteDeadline(c.closeBy)
	}
	c.mu.Unlock()
	<-c.done
	c.mu.Lock()
	defer c.mu.Unlock()
	c.fail(net.ErrClosed) // closes the connection, unless a failure did
	return nil
}

// SetDeadline sets the read deadline; writes keep their own bounds.
func (c *Conn) SetDeadline(t time.Time) error { return c.Conn.SetReadDeadline(t) }

// SetWriteDeadline does nothing: Write never waits for the socket, and the
// writes the Conn makes are bounded by the stall timeout.
func (c *Conn) SetWriteDeadline(time.Time) error { return nil }

// Dial connects to the MQTT broker at u over TCP, TLS for the mqtts, ssl,
// tls, mqtt+ssl and tcps schemes, or a WebSocket for ws and wss, and wraps
// the connection with the given stall timeout (see [New]).
func Dial(ctx context.Context, u *url.URL, tlsConfig *tls.Config, stall time.Duration) (*Conn, error) {
	var d net.Dialer
	var c net.Conn
	var err error
	switch u.Scheme {
	case "mqtt", "tcp", "":
		c, err = d.DialContext(ctx, "tcp", u.Host)
	case "mqtts", "ssl", "tls", "mqtt+ssl", "tcps":
		td := tls.Dialer{NetDialer: &d, Config: tlsConfig}
		c, err = td.DialContext(ctx, "tcp", u.Host)
	case "ws", "wss":
		c, err = wsconn.Dial(ctx, u, tlsConfig)
	default:
		return nil, fmt.Errorf("unsupported URL scheme %q", u.Scheme)
	}
	if err != nil {
		return nil, err
	}
	return New(c, stall), nil
}
