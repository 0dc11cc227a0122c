// Command dashboard serves a web page that calls a device command from the
// browser: index.html, 20 lines, with the browser client and MQTT.js served
// from this binary (package web), so the page loads nothing from the
// internet. With no flags it also starts an embedded MQTT broker that
// accepts WebSocket on 127.0.0.1:8083, and the device:
//
//	go run ./examples/dashboard
//	open http://127.0.0.1:8080/
//
// -broker runs the device against another broker (its TCP URL) and -ws
// names that broker's WebSocket URL for the page.
package main

import (
	"context"
	_ "embed"
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"

	"github.com/mqttrpc/mqttrpc"
	"github.com/mqttrpc/mqttrpc/embedded"
	"github.com/mqttrpc/mqttrpc/web"
)

//go:embed index.html
var page []byte

// Reboot is the command's request.
type Reboot struct {
	Delay int `json:"delay"` // seconds
}

func main() {
	listen := flag.String("listen", "127.0.0.1:8080", "HTTP address of the page")
	brokerURL := flag.String("broker", "", "TCP URL of the MQTT broker (default: start an embedded broker)")
	wsURL := flag.String("ws", "", "the broker's WebSocket URL for the page (default: the embedded broker's, on 127.0.0.1:8083)")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, *listen, *brokerURL, *wsURL); err != nil {
		log.Fatal(err)
	}
}

func run(ctx context.Context, listen, brokerURL, wsURL string) error {
	if brokerURL == "" {
		srv, err := embedded.Start(embedded.WithWebsocket("127.0.0.1:8083"))
		if err != nil {
			return err
		}
		defer srv.Close()
		brokerURL, wsURL = srv.URL(), srv.WebsocketURL()
	}
	b, err := mqttrpc.Connect(ctx, brokerURL)
	if err != nil {
		return err
	}
	defer b.Close(context.Background())
	_, err = b.Subscriber(ctx, "devices/{id}/reboot", mqttrpc.Typed(func(ctx context.Context, r Reboot) (string, error) {
		id := mqttrpc.MessageFromContext(ctx).Param("id")
		return fmt.Sprintf("device %s reboots in %d s", id, r.Delay), nil
	}))
	if err != nil {
		return err
	}

	mux := http.NewServeMux()
	mux.Handle("/lib/", http.StripPrefix("/lib", web.Client()))
	mux.HandleFunc("/{$}", func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("broker") == "" && wsURL != "" {
			http.Redirect(w, r, "/?broker="+wsURL, http.StatusFound)
			return
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Write(page)
	})
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		return err
	}
	hs := &http.Server{Handler: mux}
	go func() {
		<-ctx.Done()
		hs.Close()
	}()
	fmt.Printf("dashboard on http://%s/ (broker %s, page connects to %s)\n", ln.Addr(), brokerURL, wsURL)
	if err := hs.Serve(ln); err != http.ErrServerClosed {
		return err
	}
	return nil
}
