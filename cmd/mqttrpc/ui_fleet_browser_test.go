package main

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/input"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mqttrpc/mqttrpc"
	"github.com/mqttrpc/mqttrpc/embedded"
)

// The explorer page against a fleet: what it lists, how it shows a service
// that stops or a broker that goes away, the replies it must ignore, the
// load it plots from STATS, the AsyncAPI document, and how long a large
// fleet takes to list.

// openExplorer opens the explorer at page with suffix (a query and a
// hash) in a new browser, at a window size people use, and waits until it
// has connected to the broker.
func openExplorer(t testing.TB, pageURL, suffix string) context.Context {
	t.Helper()
	tab := browser(t)
	require.NoError(t, chromedp.Do(tab, chromedp.Navigate(pageURL+suffix)))
	waitUntil(t, tab, `document.getElementById('status').dataset.state === 'connected'`, "the page connected")
	return tab
}

// explorePlant starts a broker with the plant on it (a firmware update
// step every step), mqttrpc ui against it, and a browser on the explorer
// at suffix, connected. more, if given, adds services of the test's own
// before the page loads.
func explorePlant(t testing.TB, step time.Duration, suffix string, more ...func(url string)) (context.Context, *plant) {
	t.Helper()
	url := mochi(t)
	p := startPlant(t, url, step)
	for _, f := range more {
		f(url)
	}
	pageURL, _ := startUI(t, "-s", url)
	return openExplorer(t, pageURL, suffix), p
}

// listed is a predicate on the page: the sidebar lists service with its
// endpoints.
func listed(service string, endpoints ...string) string {
	sel := fmt.Sprintf(`section.service[data-service=%q]`, service)
	cond := fmt.Sprintf(`document.querySelector(%q)`, sel)
	for _, e := range endpoints {
		cond += fmt.Sprintf(` && document.querySelector(%q)`, fmt.Sprintf(`%s a.endpoint[data-endpoint=%q]`, sel, e))
	}
	return cond
}

// plantListed is the predicate that startPlant's services are all listed.
var plantListed = listed("thermostat", "set", "read", "calibrate") + " && " +
	listed("firmware", "update") + " && " + listed("odd", "markup", "huge")

// TestBrowserExplorerListsTheFleetAsText: the page lists the plant's
// services and endpoints, and shows the markup in a service's description
// and metadata as the text it is: no element is made of it, no script of
// it runs.
func TestBrowserExplorerListsTheFleetAsText(t *testing.T) {
	t.Parallel()
	tab, _ := explorePlant(t, time.Millisecond, "#/odd")
	waitUntil(t, tab, plantListed, "the plant is listed")
	title := evaluate[string](t, tab, `return document.title`)
	assert.True(t, strings.HasPrefix(title, "mqttrpc explorer"), title)

	waitUntil(t, tab, `document.querySelector('article.service-view[data-service="odd"] p.description')`, "odd's view shows")
	assert.Equal(t, markup, text(t, tab, `article.service-view p.description`))
	assert.Equal(t, markup, text(t, tab, `table.metadata th`))
	assert.Equal(t, markup, text(t, tab, `table.metadata td`))
	// The page's own scripts are its import map and app.js.
	elements := `return [document.querySelectorAll('img').length, document.querySelectorAll('script').length, document.querySelectorAll('b').length]`
	assert.Equal(t, []int{0, 2, 0}, evaluate[[]int](t, tab, elements), "no img, script or b element made of the markup")
	screenshot(t, tab, "odd-service")

	// The endpoint's metadata too.
	require.NoError(t, chromedp.Do(tab, chromedp.Evaluate[chromedp.Void](`location.hash = '#/odd/markup'`)))
	waitUntil(t, tab, `document.querySelector('article.endpoint-view[data-endpoint="markup"] table.metadata td')`, "odd/markup's view shows")
	assert.Equal(t, markup, text(t, tab, `article.endpoint-view table.metadata td`))
	assert.Equal(t, []int{0, 2, 0}, evaluate[[]int](t, tab, elements))
	assert.Equal(t, title, evaluate[string](t, tab, `return document.title`), "the title is the page's own")
	screenshot(t, tab, "odd-endpoint")
}

// answerINFO returns what explorePlant calls to add, on the broker at url,
// a responder that is no mqttrpc service: it answers discovery's INFO with
// body, whatever it is.
func answerINFO(t testing.TB, body []byte) func(url string) {
	return func(url string) {
		ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
		defer cancel()
		b := libBroker(t, url)
		_, err := b.Subscriber(ctx, mqttrpc.DefaultDiscoveryPrefix+"/INFO", mqttrpc.HandlerFunc(
			func(context.Context, *mqttrpc.Message) (*mqttrpc.Response, error) {
				return &mqttrpc.Response{Body: body, ContentType: "application/json"}, nil
			}))
		require.NoError(t, err)
	}
}

// TestBrowserExplorerListsForeignNamesAsText: a responder that is not an
// mqttrpc service may answer INFO with markup where the library allows
// only letters and digits: the service's and the endpoint's names. They
// are listed as the text they are.
func TestBrowserExplorerListsForeignNamesAsText(t *testing.T) {
	t.Parallel()
	info, err := json.Marshal(map[string]any{
		"type": "io.mqttrpc.srv.v1.info_response", "name": markup, "id": "x1", "version": "1.0.0",
		"endpoints": []map[string]any{{"name": markup, "pattern": "foreign/{id}"}},
	})
	require.NoError(t, err)
	tab, _ := explorePlant(t, time.Millisecond, "", answerINFO(t, info))
	waitUntil(t, tab, plantListed+` && document.querySelectorAll('section.service').length === 4`, "the plant and the foreign service are listed")
	name := evaluate[string](t, tab, `return [...document.querySelectorAll('section.service')].map(s => s.dataset.service).find(n => n.startsWith('<'))`)
	assert.Equal(t, markup, name)
	assert.Equal(t, markup, evaluate[string](t, tab, `return [...document.querySelectorAll('section.service')].find(s => s.dataset.service.startsWith('<')).querySelector('.service-name .name').textContent`))
	assert.Equal(t, markup, evaluate[string](t, tab, `return [...document.querySelectorAll('a.endpoint')].find(a => a.dataset.endpoint.startsWith('<')).querySelector('.name').textContent`))
	assert.Equal(t, []int{0, 2, 0}, evaluate[[]int](t, tab, `return [document.querySelectorAll('img').length, document.querySelectorAll('script').length, document.querySelectorAll('b').length]`))
	assert.True(t, strings.HasPrefix(evaluate[string](t, tab, `return document.title`), "mqttrpc explorer"))
	screenshot(t, tab, "foreign-names")
}

// pump starts a service "pump" on a connection of its own to the broker
// at url, and returns the connection and the instance's id.
func pump(t testing.TB, url string) (*mqttrpc.Broker, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	b := libBroker(t, url)
	s, err := b.Service(ctx, mqttrpc.ServiceConfig{Name: "pump", Version: "1.0.0"})
	require.NoError(t, err)
	_, err = s.Endpoint(ctx, "start", "pumps/{id}/start", mqttrpc.Typed(func(context.Context, []byte) (string, error) { return "started", nil }))
	require.NoError(t, err)
	return b, s.ID()
}

// TestBrowserExplorerMarksStoppedInstances: an instance that stops is
// marked in the service's view, and a service none of whose instances
// answers, in the list.
func TestBrowserExplorerMarksStoppedInstances(t *testing.T) {
	t.Parallel()
	url := mochi(t)
	first, firstID := pump(t, url)
	second, secondID := pump(t, url)
	pageURL, _ := startUI(t, "-s", url)
	tab := openExplorer(t, pageURL, "?refresh=1#/pump")
	instance := func(id, alive string) string {
		return fmt.Sprintf(`document.querySelector('tr.instance[data-instance=%q][data-alive=%q]')`, id, alive)
	}
	waitUntil(t, tab, instance(firstID, "true")+" && "+instance(secondID, "true"), "both instances answer")

	require.NoError(t, closeBroker(second))
	waitUntil(t, tab, instance(secondID, "false"), "the stopped instance is marked")
	assert.Contains(t, text(t, tab, fmt.Sprintf(`tr.instance[data-instance=%q] .state`, secondID)), "stopped answering")
	assert.Equal(t, "true", evaluate[string](t, tab, `return document.querySelector('section.service[data-service="pump"]').dataset.alive`),
		"one instance still answers")
	assert.Equal(t, "1/2", text(t, tab, `section.service[data-service="pump"] .count`))
	screenshot(t, tab, "instance-stopped")

	require.NoError(t, closeBroker(first))
	waitUntil(t, tab, `document.querySelector('section.service[data-service="pump"][data-alive="false"]')`, "the service is marked")
	waitUntil(t, tab, instance(firstID, "false"), "both instances are marked")
	// No instance left to ask for the AsyncAPI document's schemas.
	require.NoError(t, chromedp.Do(tab, chromedp.Click("button#asyncapi-show")))
	waitUntil(t, tab, `document.querySelector('#asyncapi-error')`, "the AsyncAPI panel says why there is no document")
	assert.Contains(t, text(t, tab, `#asyncapi-error`), "No instance of pump answered SCHEMA")
	screenshot(t, tab, "service-stopped")
}

// TestBrowserExplorerBrokerRestarts: the broker goes away and comes back
// on the same address; the page says so, reconnects, and lists the
// services, which reconnected too, as answering again.
func TestBrowserExplorerBrokerRestarts(t *testing.T) {
	t.Parallel()
	addr := freeAddr(t)
	srv, err := embedded.Start(embedded.WithAddr(addr))
	require.NoError(t, err)
	var mu sync.Mutex
	t.Cleanup(func() {
		mu.Lock()
		defer mu.Unlock()
		srv.Close()
	})
	url := srv.URL()
	startPlant(t, url, time.Millisecond)
	pageURL, _ := startUI(t, "-s", url)
	tab := openExplorer(t, pageURL, "?refresh=1#/thermostat")
	waitUntil(t, tab, plantListed, "the plant is listed")

	mu.Lock()
	require.NoError(t, srv.Close())
	mu.Unlock()
	waitUntil(t, tab, `['disconnected', 'connecting'].includes(document.getElementById('status').dataset.state)`, "the page sees the broker gone")
	// What it knew of the instances is no longer news: it says so.
	waitUntil(t, tab, `document.querySelector('tr.instance .state')?.textContent.startsWith('unknown while the page is not connected')`,
		"the instances' state is unknown")
	screenshot(t, tab, "broker-gone")

	mu.Lock()
	srv, err = embedded.Start(embedded.WithAddr(addr))
	mu.Unlock()
	require.NoError(t, err)
	waitUntil(t, tab, `document.getElementById('status').dataset.state === 'connected'`, "the page reconnected")
	// A service that registers after the restart is listed once a round
	// has run on the new broker: the plant, alive in that round or a
	// later one, has reconnected too.
	pump(t, url)
	waitUntil(t, tab, listed("pump", "start")+` && `+plantListed+
		` && ['thermostat', 'firmware', 'odd'].every(s => document.querySelector('section.service[data-service="' + s + '"]').dataset.alive === 'true')`,
		"the services answer again")
	screenshot(t, tab, "broker-back")
}

// TestBrowserExplorerIgnoresInvalidReplies: an INFO reply that does not
// have INFO's shape is reported as ignored, and the services that answer
// properly are listed.
func TestBrowserExplorerIgnoresInvalidReplies(t *testing.T) {
	t.Parallel()
	tab, _ := explorePlant(t, time.Millisecond, "", answerINFO(t, []byte(`{"name": 5}`)))
	waitUntil(t, tab, `[...document.querySelectorAll('.message.warning')].some(m => m.textContent.includes('INFO reply') && m.textContent.includes('ignored'))`,
		"the invalid reply is reported")
	waitUntil(t, tab, plantListed, "the plant is listed")
	assert.Contains(t, text(t, tab, `.message.warning`), "name is not a string")
	screenshot(t, tab, "invalid-info")
}

// TestBrowserExplorerNotAWebSocketURL: a broker URL a page cannot reach is
// an error; the right one connects.
func TestBrowserExplorerNotAWebSocketURL(t *testing.T) {
	t.Parallel()
	tab, _ := explorePlant(t, time.Millisecond, "")
	waitUntil(t, tab, plantListed, "the plant is listed")
	right := evaluate[string](t, tab, `return document.getElementById('broker-url').value`)
	connectTo := func(u string) {
		t.Helper()
		require.NoError(t, chromedp.Do(tab,
			chromedp.SetValue("#broker-url", u),
			chromedp.Click("#connect-button")))
	}
	for _, wrong := range []string{"mqtt://127.0.0.1:1883", "tcp://127.0.0.1:1883"} {
		connectTo(wrong)
		waitUntil(t, tab, fmt.Sprintf(`[...document.querySelectorAll('.message.error')].some(m => m.textContent.includes(%q + ' is not a WebSocket URL'))`, wrong),
			"the error for "+wrong)
		assert.Equal(t, "error", evaluate[string](t, tab, `return document.getElementById('status').dataset.state`))
	}
	// A path alone is not an address an operator meant: it is refused
	// rather than tried on the page's own server.
	connectTo("http-nonsense")
	waitUntil(t, tab, `[...document.querySelectorAll('.message.error')].some(m => m.textContent.includes('"http-nonsense" is not a URL'))`,
		"the error for a bare word")
	assert.Equal(t, "error", evaluate[string](t, tab, `return document.getElementById('status').dataset.state`))
	screenshot(t, tab, "not-a-websocket")
	connectTo(right)
	waitUntil(t, tab, `document.getElementById('status').dataset.state === 'connected'`, "the page connected again")
	waitUntil(t, tab, plantListed, "the plant is listed again")
}

// TestBrowserExplorerPlotsStats: calls made from Go show in the load
// panel: the rate plot, the totals, the errors and the last error; after
// a Reset the counters start over and no rate is negative.
func TestBrowserExplorerPlotsStats(t *testing.T) {
	t.Parallel()
	tab, p := explorePlant(t, time.Millisecond, "?refresh=1#/thermostat")
	// The first sample, before the calls, so that they make a rate.
	waitUntil(t, tab, `document.querySelector('[data-stat="requests"][data-endpoint="read"]')?.textContent === '0'`, "the first STATS sample")

	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	call := func(topicName string, body any, n int) {
		for range n {
			p.broker.Request(ctx, topicName, body) // an error reply is what some of them are for
		}
	}
	call("site/7/rooms/3/thermostat", nil, 40)
	call("site/7/rooms/3/thermostat/set", Setpoint{Celsius: 21, Mode: "heat"}, 10)
	call("site/7/rooms/3/thermostat/set", Setpoint{Celsius: 40, Mode: "heat"}, 2)
	call("site/7/thermostat/calibrate", nil, 3)

	// A sample taken while the calls ran may show read's 40 and not yet
	// the rest: wait for one taken after the last.
	waitUntil(t, tab, `document.querySelector('[data-stat="requests"][data-endpoint="read"]').textContent === '40' &&
  document.querySelector('[data-stat="requests"][data-endpoint="calibrate"]').textContent === '3'`, "the totals show the calls")
	assert.Equal(t, "12", text(t, tab, `[data-stat="requests"][data-endpoint="set"]`))
	assert.Equal(t, "2", text(t, tab, `[data-stat="errors"][data-endpoint="set"]`))
	assert.Equal(t, "3", text(t, tab, `[data-stat="errors"][data-endpoint="calibrate"]`))
	assert.Contains(t, text(t, tab, `[data-stat="last-error"][data-endpoint="set"]`), "40.0 °C is outside 5–30 °C")
	waitUntil(t, tab, `Number(document.querySelector('svg.plot[data-metric="rate"]').dataset.max) > 0 &&
  document.querySelector('svg.plot[data-metric="rate"] g.series[data-series="read"] path') &&
  Number(document.querySelector('svg.plot[data-metric="errors"]').dataset.max) > 0`, "the plots show the calls")
	assert.Equal(t, 0, evaluate[int](t, tab, `return document.querySelectorAll('svg.plot[data-metric="rate"] text.empty').length`))
	screenshot(t, tab, "stats-service")

	// The pointer over a plot: every plot shows its values at that time,
	// and keeps showing them as the plots are redrawn with new samples.
	at := evaluate[[]float64](t, tab, `const p = document.querySelector('svg.plot[data-metric="rate"]')
p.scrollIntoView({ block: 'center' })
const r = p.getBoundingClientRect()
return [r.right - 20, r.top + r.height / 2]`)
	require.NoError(t, chromedp.Do(tab, chromedp.MouseEvent(input.DispatchMouseEventTypeMouseMoved, at[0], at[1])))
	const readouts = `[...document.querySelectorAll('svg.plot')].every(p => p.querySelector('.readout-box')) &&
  /read: [0-9.k]+ req\/s/.test(document.querySelector('svg.plot[data-metric="rate"] .readout-box').textContent) &&
  /ago|now/.test(document.querySelector('svg.plot[data-metric="latency"] .readout-box').textContent)`
	waitUntil(t, tab, readouts, "the readouts")
	require.NoError(t, chromedp.Do(tab, chromedp.Evaluate[chromedp.Void](`document.querySelector('svg.plot[data-metric="rate"]').dataset.old = 'yes'`)))
	waitUntil(t, tab, `!document.querySelector('svg.plot[data-metric="rate"]').dataset.old && `+readouts, "the readouts after a redraw")
	screenshot(t, tab, "stats-readout")
	require.NoError(t, chromedp.Do(tab, chromedp.MouseEvent(input.DispatchMouseEventTypeMouseMoved, 1, 1)))
	waitUntil(t, tab, `!document.querySelector('svg.plot .readout-box')`, "the readouts gone with the pointer")

	// Reset: the counters go down; the plot starts over from there.
	i := slices.IndexFunc(p.broker.Services(), func(s *mqttrpc.Service) bool { return s.Name() == "thermostat" })
	require.GreaterOrEqual(t, i, 0)
	p.broker.Services()[i].Reset()
	call("site/7/rooms/3/thermostat", nil, 5)
	waitUntil(t, tab, `document.querySelector('[data-stat="requests"][data-endpoint="read"]').textContent === '5'`, "the totals start over")
	call("site/7/rooms/3/thermostat", nil, 5)
	waitUntil(t, tab, `document.querySelector('[data-stat="requests"][data-endpoint="read"]').textContent === '10'`, "the totals go on")
	for _, metric := range []string{"rate", "errors", "latency"} {
		min := evaluate[string](t, tab, fmt.Sprintf(`return document.querySelector('svg.plot[data-metric=%q]').dataset.min`, metric))
		assert.False(t, strings.HasPrefix(min, "-"), "%s: the least value shown is %s", metric, min)
	}

	// One endpoint's view plots that endpoint.
	require.NoError(t, chromedp.Do(tab, chromedp.Evaluate[chromedp.Void](`location.hash = '#/thermostat/read'`)))
	waitUntil(t, tab, `document.querySelector('svg.plot[data-metric="rate"][data-endpoint="read"]') &&
  document.querySelector('[data-stat="requests"][data-endpoint="read"]')?.textContent === '10' &&
  !document.querySelector('[data-stat="requests"][data-endpoint="set"]')`, "the endpoint's load")
	screenshot(t, tab, "stats-endpoint")
}

// TestBrowserExplorerAsyncAPI: the service's AsyncAPI document, built by
// ui from the SCHEMA replies the page gathered, is shown and offered for
// download; when the server cannot be reached, the panel says so.
func TestBrowserExplorerAsyncAPI(t *testing.T) {
	t.Parallel()
	tab, _ := explorePlant(t, time.Millisecond, "#/thermostat")
	waitUntil(t, tab, `document.querySelector('button#asyncapi-show')`, "the panel shows")
	require.NoError(t, chromedp.Do(tab, chromedp.Click("button#asyncapi-show")))
	waitUntil(t, tab, `document.querySelector('pre#asyncapi-doc') || document.querySelector('#asyncapi-error')`, "the document or an error")
	require.True(t, evaluate[bool](t, tab, `return document.querySelector('#asyncapi-error') === null`),
		"an error instead of the document: %s", text(t, tab, `#asyncapi-error`))
	doc := text(t, tab, `pre#asyncapi-doc`)
	assert.Contains(t, doc, "asyncapi:")
	for _, address := range []string{"site/7/rooms/{room}/thermostat/set", "site/7/rooms/{room}/thermostat", "site/7/thermostat/calibrate"} {
		assert.Contains(t, doc, "address: "+address)
	}
	links := evaluate[[]string](t, tab, `return ['yaml', 'json'].flatMap(f => {
  const a = document.getElementById('asyncapi-download-' + f)
  return [a.href.slice(0, 5), a.download]
})`)
	assert.Equal(t, []string{"blob:", "thermostat-asyncapi.yaml", "blob:", "thermostat-asyncapi.json"}, links)
	downloaded := evaluate[string](t, tab, `const r = await fetch(document.getElementById('asyncapi-download-json').href)
return (await r.json()).asyncapi`)
	assert.Equal(t, "3.0.0", downloaded)
	screenshot(t, tab, "asyncapi")

	// The server refuses the replies: its text is shown, as text.
	require.NoError(t, chromedp.Do(tab,
		chromedp.Evaluate[chromedp.Void](`window.fetch = async () => new Response('want a JSON array of SCHEMA replies: <b>no</b>', { status: 400 })`),
		chromedp.Click("button#asyncapi-show")))
	waitUntil(t, tab, `document.querySelector('#asyncapi-error')`, "the server's refusal shows")
	assert.Contains(t, text(t, tab, `#asyncapi-error`), "(400): want a JSON array of SCHEMA replies: <b>no</b>")
	assert.Equal(t, 0, evaluate[int](t, tab, `return document.querySelectorAll('#asyncapi-error b').length`))

	// The server gone: the panel says so, and the page goes on.
	require.NoError(t, chromedp.Do(tab,
		chromedp.Evaluate[chromedp.Void](`window.fetch = () => Promise.reject(new TypeError('Failed to fetch'))`),
		chromedp.Click("button#asyncapi-show")))
	// The refusal above is still shown until the new attempt ends.
	waitUntil(t, tab, `document.querySelector('#asyncapi-error')?.textContent.includes('could not be reached')`, "the error shows")
	require.NoError(t, chromedp.Do(tab, chromedp.Evaluate[chromedp.Void](`location.hash = '#/firmware'`)))
	waitUntil(t, tab, `document.querySelector('article.service-view[data-service="firmware"]')`, "another view opens")
}

// whenNewDocument runs script in each page the tab loads, before the
// page's own scripts.
func whenNewDocument(script string) chromedp.Action[chromedp.Void] {
	return func(ctx context.Context, tg *chromedp.Target) (chromedp.Void, error) {
		_, err := cdp.Call(ctx, tg, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{Source: script})
		return chromedp.Void{}, err
	}
}

// TestBrowserExplorerListsAThousandEndpoints measures how long the page
// takes from navigation to listing 100 services of 10 endpoints each.
// It logs the time of each of three loads and asserts only that all are
// listed.
func TestBrowserExplorerListsAThousandEndpoints(t *testing.T) {
	t.Parallel()
	const services, endpoints, perConnection = 100, 10, 10
	url := mochi(t)
	var wg sync.WaitGroup
	errs := make(chan error, services/perConnection)
	for c := range services / perConnection {
		wg.Go(func() {
			errs <- func() error {
				ctx, cancel := context.WithTimeout(context.Background(), 4*waitLimit)
				defer cancel()
				b, err := mqttrpc.Connect(ctx, url)
				if err != nil {
					return err
				}
				t.Cleanup(func() { closeBroker(b) })
				for i := c * perConnection; i < (c+1)*perConnection; i++ {
					s, err := b.Service(ctx, mqttrpc.ServiceConfig{Name: fmt.Sprintf("line%03d", i), Version: "1.0.0"})
					if err != nil {
						return err
					}
					for j := range endpoints {
						h := mqttrpc.Typed(func(context.Context, []byte) (string, error) { return "ok", nil })
						if _, err := s.Endpoint(ctx, fmt.Sprintf("valve%d", j), fmt.Sprintf("lines/%03d/valves/%d/{cmd}", i, j), h); err != nil {
							return err
						}
					}
				}
				return nil
			}()
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	pageURL, _ := startUI(t, "-s", url)

	const want = services * endpoints
	var took []float64
	for run := range 3 {
		// A subtest each, so that each load's browser has stopped before
		// the next starts: a page left open keeps asking the fleet.
		t.Run(fmt.Sprint("load", run+1), func(t *testing.T) {
			tab := browser(t)
			require.NoError(t, chromedp.Do(tab,
				chromedp.EmulateViewport(1360, 900),
				whenNewDocument(fmt.Sprintf(`new MutationObserver((_, o) => {
  if (document.querySelectorAll('a.endpoint').length >= %d) {
    window.allListed = performance.now()
    o.disconnect()
  }
}).observe(document, { childList: true, subtree: true })`, want)),
				chromedp.Navigate(pageURL)))
			waitUntil(t, tab, `window.allListed`, "all endpoints listed")
			ms := evaluate[float64](t, tab, `return window.allListed`)
			assert.Equal(t, want, evaluate[int](t, tab, `return document.querySelectorAll('a.endpoint').length`))
			assert.Contains(t, text(t, tab, "#summary"), fmt.Sprintf("%d services", services))
			t.Logf("%d services, %d endpoints listed %.0f ms after navigation started", services, want, ms)
			took = append(took, ms)
			if run == 0 {
				screenshot(t, tab, "thousand-endpoints")
			}
		})
	}
	slices.Sort(took)
	t.Logf("median of %d loads: %.0f ms", len(took), took[len(took)/2])
}

// TestBrowserExplorerMarksMQTT311Instances: an instance on MQTT 3.1.1
// answers discovery (to the reply_to of the body) and is listed, marked
// as such; its endpoints warn that a call from the page cannot be
// answered, instead of leaving the user to a timeout.
func TestBrowserExplorerMarksMQTT311Instances(t *testing.T) {
	t.Parallel()
	tab, _ := explorePlant(t, time.Millisecond, "#/meter", func(url string) {
		ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
		defer cancel()
		b := libBroker(t, url, mqttrpc.WithVersion(mqttrpc.V311))
		svc, err := b.Service(ctx, mqttrpc.ServiceConfig{Name: "meter", Version: "0.9.0"})
		require.NoError(t, err)
		_, err = svc.Endpoint(ctx, "read", "meters/{id}/read", mqttrpc.Typed(
			func(context.Context, []byte) (float64, error) { return 42, nil }))
		require.NoError(t, err)
	})
	waitUntil(t, tab, `document.querySelector('tr.instance .protocol')?.textContent === 'MQTT 3.1.1'`, "the meter marked as MQTT 3.1.1")
	require.NoError(t, chromedp.Do(tab, chromedp.Evaluate[chromedp.Void](`location.hash = '#/meter/read'`)))
	waitUntil(t, tab, `document.querySelector('#call-v311')`, "the warning on its endpoint")
	assert.Contains(t, text(t, tab, "#call-v311"), "cannot see where to reply")

	require.NoError(t, chromedp.Do(tab, chromedp.Evaluate[chromedp.Void](`location.hash = '#/thermostat/read'`)))
	waitUntil(t, tab, `document.querySelector('article.endpoint-view[data-service="thermostat"][data-endpoint="read"] section.call')`, "an MQTT 5 endpoint")
	assert.False(t, evaluate[bool](t, tab, `return !!document.querySelector('#call-v311')`), "no warning for an MQTT 5 service")
	screenshot(t, tab, "mqtt311")
}
