package brokertest

import (
	"net"
	"net/url"
	"slices"
	"sync"
	"testing"
	"time"
)

// Proxy is a TCP proxy in front of a broker whose connections a test can cut
// or stall, as a network failure would, while the broker itself keeps running.
type Proxy struct {
	URL string // the broker's URL with the proxy's 127.0.0.1:PORT

	target   string
	ln       net.Listener
	attached func(remoteAddr string) bool // see Broker.attached

	mu      sync.Mutex
	down    bool
	stalled chan struct{} // non-nil while stalled; closed by Resume
	conns   map[net.Conn]struct{}
	wg      sync.WaitGroup
}

// NewProxy starts a proxy to b and stops it in t.Cleanup.
func NewProxy(t testing.TB, b *Broker) *Proxy {
	t.Helper()
	u, err := url.Parse(b.URL)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &Proxy{URL: u.Scheme + "://" + ln.Addr().String() + u.Path, target: u.Host, ln: ln, attached: b.attached, conns: make(map[net.Conn]struct{})}
	p.wg.Add(1)
	go p.accept() // ends when the listener closes
	t.Cleanup(p.close)
	return p
}

func (p *Proxy) accept() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.mu.Lock()
		if p.down {
			p.mu.Unlock()
			c.Close()
			continue
		}
		upstream, err := net.Dial("tcp", p.target)
		if err != nil {
			p.mu.Unlock()
			c.Close()
			continue
		}
		p.conns[c], p.conns[upstream] = struct{}{}, struct{}{}
		p.wg.Add(2)
		p.mu.Unlock()
		go p.pipe(c, upstream) // each pipe ends when either side closes
		go p.pipe(upstream, c)
	}
}

// pipe copies src to dst, holding the bytes back while the proxy is stalled:
// it neither reads nor writes then, so the sender's buffers fill as they
// would behind a link that has gone quiet.
func (p *Proxy) pipe(dst, src net.Conn) {
	defer p.wg.Done()
	buf := make([]byte, 32<<10)
	for {
		p.awaitFlow()
		n, err := src.Read(buf)
		if n > 0 {
			p.awaitFlow()
			if _, werr := dst.Write(buf[:n]); werr != nil {
				break
			}
		}
		if err != nil {
			break
		}
	}
	dst.Close()
	src.Close()
	p.mu.Lock()
	delete(p.conns, dst)
	delete(p.conns, src)
	p.mu.Unlock()
}

// awaitFlow waits while the proxy is stalled.
func (p *Proxy) awaitFlow() {
	p.mu.Lock()
	stalled := p.stalled
	p.mu.Unlock()
	if stalled != nil {
		<-stalled
	}
}

// Stall stops all traffic through the proxy, both ways, without closing a
// connection: no byte passes, and new connections are accepted but carry
// nothing, until Resume. Nothing tells either end.
func (p *Proxy) Stall() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.stalled == nil {
		p.stalled = make(chan struct{})
	}
}

// Resume lets the traffic held back by Stall flow again.
func (p *Proxy) Resume() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.stalled != nil {
		close(p.stalled)
		p.stalled = nil
	}
}

// Cut closes every connection through the proxy and refuses new ones until
// Restore. A stall ends with it.
//
// With the embedded broker, Cut returns once the broker has noticed: mochi
// cleans up a dropped connection in its own time, and a client that
// reconnected meanwhile with the same client ID can lose its new
// subscriptions to that cleanup. A real network gives the broker that time.
func (p *Proxy) Cut() {
	p.mu.Lock()
	p.down = true
	var upstream []string
	for c := range p.conns {
		if c.RemoteAddr().String() == p.target {
			upstream = append(upstream, c.LocalAddr().String())
		}
		c.Close()
	}
	p.mu.Unlock()
	p.Resume()
	p.awaitDetached(upstream)
}

// awaitDetached waits, for up to 10 s, until the embedded broker holds no
// client connected from addrs.
func (p *Proxy) awaitDetached(addrs []string) {
	if p.attached == nil {
		return
	}
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); <-tick.C {
		if !slices.ContainsFunc(addrs, p.attached) {
			return
		}
	}
}

// Restore lets connections through again.
func (p *Proxy) Restore() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.down = false
}

func (p *Proxy) close() {
	p.ln.Close()
	p.Cut()
	p.wg.Wait()
}
