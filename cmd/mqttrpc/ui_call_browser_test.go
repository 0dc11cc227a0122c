package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mqttrpc/mqttrpc"
)

// The explorer's call panel in Chromium, against the plant of
// ui_plant_test.go: forms made from the request schemas, errors, a stream
// with its progress and its cancel, bodies that are markup or huge, and
// schemas a form cannot come from.

// callView is explorePlant on the view of endpoint ("service/endpoint"),
// once its call panel is there.
func callView(t *testing.T, endpoint string, step time.Duration, more ...func(url string)) (context.Context, *plant) {
	t.Helper()
	tab, p := explorePlant(t, step, "#/"+endpoint, more...)
	waitUntil(t, tab, `document.querySelector('section.call #call-send')`, "the call panel")
	return tab, p
}

// typeInto types text at the end of the field sel as a person would, key
// by key, once it shows. (chromedp's SendKeys reads the field's attributes
// without a lock while the page changes them, a data race, and leaves the
// caret wherever the field last had it.)
func typeInto(t *testing.T, tab context.Context, sel, text string) {
	t.Helper()
	waitUntil(t, tab, fmt.Sprintf(`document.querySelector(%s)?.checkVisibility()`, js(sel)), sel+" shows")
	focused := evaluate[bool](t, tab, fmt.Sprintf(`
const el = document.querySelector(%s)
el.focus()
try { el.setSelectionRange(el.value.length, el.value.length) } catch {} // a number field has no caret to move
return document.activeElement === el`, js(sel)))
	require.True(t, focused, "%s takes no focus", sel)
	require.NoError(t, chromedp.Do(tab, chromedp.KeyEvent(text)))
}

// setValue sets the value of the field sel, as a paste would.
func setValue(t *testing.T, tab context.Context, sel, value string) {
	t.Helper()
	evaluate[bool](t, tab, fmt.Sprintf(`
const el = document.querySelector(%s)
el.value = %s
el.dispatchEvent(new Event('input', { bubbles: true }))
return true`, js(sel), js(value)))
}

// goTo runs a JavaScript statement that moves the page, such as a change
// of location.hash.
func goTo(t *testing.T, tab context.Context, statement string) {
	t.Helper()
	evaluate[bool](t, tab, statement+"\nreturn true")
}

func click(t *testing.T, tab context.Context, sel string) {
	t.Helper()
	require.NoError(t, chromedp.Do(tab, chromedp.Click(chromedp.CSS(sel))))
}

// choose picks the option of the select sel whose text is text.
func choose(t *testing.T, tab context.Context, sel, text string) {
	t.Helper()
	ok := evaluate[bool](t, tab, fmt.Sprintf(`
const s = document.querySelector(%s)
const o = [...s.options].find(o => o.textContent === %s)
if (!o) return false
s.value = o.value
s.dispatchEvent(new Event('change', { bubbles: true }))
return true`, js(sel), js(text)))
	require.True(t, ok, "%s has no option %q", sel, text)
}

// outcome is what the call panel shows once a call is done.
type outcome struct {
	Outcome string `json:"outcome"`
	Code    string `json:"code"`
	Status  string `json:"status"`
	RTT     string `json:"rtt"`
	Body    string `json:"body"`
}

// finished waits until the call under way is done and returns its outcome.
func finished(t *testing.T, tab context.Context) outcome {
	t.Helper()
	waitUntil(t, tab, `['ok', 'error', 'timeout', 'canceled', 'failed'].includes(document.querySelector('#call-result')?.dataset.outcome) ||
  document.querySelector('#call-problems').textContent !== ''`, "the call is done")
	if problems := text(t, tab, "#call-problems"); problems != "" {
		t.Fatalf("the call was not sent: %s", problems)
	}
	return evaluate[outcome](t, tab, `
const r = document.querySelector('#call-result')
return {
  outcome: r.dataset.outcome, code: r.dataset.code,
  status: document.querySelector('#call-status').textContent,
  rtt: document.querySelector('#call-rtt').textContent,
  body: document.querySelector('#call-body').textContent
}`)
}

// TestBrowserCallForm fills the thermostat's form, made from its request
// schema: the room of the topic, a number, a choice and a checkbox. What
// is not a value is shown beside its field, and nothing is sent.
func TestBrowserCallForm(t *testing.T) {
	t.Parallel()
	tab, _ := callView(t, "thermostat/set", time.Second)
	waitUntil(t, tab, `document.querySelector('[data-field="celsius"]')`, "the form from the schema")

	// What the endpoint is, from INFO and SCHEMA.
	props := text(t, tab, "table.properties")
	for _, want := range []string{"site/7/rooms/{room}/thermostat/set", "site/7/rooms/+/thermostat/set", "QoS0", "application/json"} {
		assert.Contains(t, props, want)
	}
	assert.Equal(t, "unitcelsius", text(t, tab, "article.endpoint-view table.metadata"))
	schemas := text(t, tab, "div.schemas")
	assert.Contains(t, schemas, "Request (main.Setpoint)")
	assert.Contains(t, schemas, `"maximum": 30`)

	assert.True(t, evaluate[bool](t, tab, `return document.querySelector('#call-send').disabled`), "a call without its room")
	typeInto(t, tab, `input[data-param="room"]`, "kit+")
	waitUntil(t, tab, `document.querySelector('#call-send').disabled && /no \+ or #/.test(document.querySelector('input[data-param="room"]').parentElement.textContent)`, "a wildcard in the room is refused")
	setValue(t, tab, `input[data-param="room"]`, "")
	typeInto(t, tab, `input[data-param="room"]`, "kitchen")
	waitUntil(t, tab, `document.querySelector('#call-topic').textContent === 'site/7/rooms/kitchen/thermostat/set'`, "the topic with its room")

	// text in the number field, and no mode chosen
	typeInto(t, tab, `[data-field="celsius"]`, "2e")
	click(t, tab, "#call-send")
	waitUntil(t, tab, `document.querySelector('#call-problems').textContent.includes('Nothing was sent')`, "the call refused")
	assert.Contains(t, text(t, tab, `.field:has([data-field="celsius"]) .field-error`), "not a number")
	assert.Contains(t, text(t, tab, `.field:has([data-field="mode"]) .field-error`), "required")
	assert.True(t, evaluate[bool](t, tab, `return document.querySelector('#call-result').hidden`), "a result of a call never sent")

	setValue(t, tab, `[data-field="celsius"]`, "")
	assert.Empty(t, text(t, tab, "#call-problems"), "an edit takes the refusal's message away")
	typeInto(t, tab, `[data-field="celsius"]`, "21.5")
	choose(t, tab, `[data-field="mode"]`, "cool")
	click(t, tab, `[data-field="eco"]`)
	// a date-time: what is not one is said; "now" fills one in
	typeInto(t, tab, `[data-field="until"]`, "tomorrow")
	waitUntil(t, tab, `document.querySelector('.field:has([data-field="until"]) .field-warning').textContent.includes('not a date-time')`, "the date-time judged")
	click(t, tab, `[data-now="until"]`)
	until := evaluate[string](t, tab, `return document.querySelector('[data-field="until"]').value`)
	assert.Regexp(t, `^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$`, until)
	assert.Empty(t, text(t, tab, `.field:has([data-field="until"]) .field-warning`))
	screenshot(t, tab, "call-form-filled")
	click(t, tab, "#call-send")
	o := finished(t, tab)
	require.Equal(t, "ok", o.Outcome, o.Status)
	assert.Equal(t, "200", o.Code)
	assert.Contains(t, o.Status, "OK")
	assert.Regexp(t, `^[0-9.]+ (ms|s)$`, o.RTT)
	var got map[string]any
	require.NoError(t, json.Unmarshal([]byte(o.Body), &got), o.Body)
	assert.Equal(t, map[string]any{"room": "kitchen", "celsius": 21.5, "mode": "cool", "eco": true, "until": until}, got)
	assert.Equal(t, "Content-Type application/json", text(t, tab, "#call-content-type"))
	assert.Empty(t, text(t, tab, "#call-problems"))

	// the form's JSON, edited, back in the form
	click(t, tab, "#call-mode")
	raw := evaluate[string](t, tab, `return document.querySelector('#call-raw').value`)
	var sent map[string]any
	require.NoError(t, json.Unmarshal([]byte(raw), &sent), raw)
	assert.Equal(t, map[string]any{"celsius": 21.5, "mode": "cool", "eco": true, "until": until}, sent)
	setValue(t, tab, "#call-raw", `{"celsius": 19, "mode": "heat"}`)
	click(t, tab, "#call-mode")
	assert.Equal(t, "19", evaluate[string](t, tab, `return document.querySelector('[data-field="celsius"]').value`))
	assert.Equal(t, "heat", evaluate[string](t, tab, `const s = document.querySelector('[data-field="mode"]'); return s.selectedOptions[0].textContent`))
	assert.False(t, evaluate[bool](t, tab, `return document.querySelector('[data-field="eco"]').checked`))
	// JSON the form cannot hold stays JSON, and says why
	click(t, tab, "#call-mode")
	setValue(t, tab, "#call-raw", `{"celsius": 19, "fan": true}`)
	click(t, tab, "#call-mode")
	assert.Contains(t, text(t, tab, ".switch-note"), `"fan" is not a field the schema names`)
	assert.False(t, evaluate[bool](t, tab, `return document.querySelector('#call-raw').closest('.raw-area').hidden`))
	screenshot(t, tab, "call-form")
}

// TestBrowserCallErrors: a value the handler refuses is an error with its
// code and message, and so is a handler that fails.
func TestBrowserCallErrors(t *testing.T) {
	t.Parallel()
	tab, _ := callView(t, "thermostat/set", time.Second)
	waitUntil(t, tab, `document.querySelector('[data-field="celsius"]')`, "the form from the schema")
	typeInto(t, tab, `input[data-param="room"]`, "hall")
	typeInto(t, tab, `[data-field="celsius"]`, "35")
	choose(t, tab, `[data-field="mode"]`, "heat")
	click(t, tab, "#call-send")
	o := finished(t, tab)
	assert.Equal(t, "error", o.Outcome)
	assert.Equal(t, "422", o.Code)
	assert.Contains(t, o.Status, "35.0 °C is outside 5–30 °C")
	// the schema's maximum is a warning, not a refusal: the service says no
	assert.Contains(t, text(t, tab, `.field:has([data-field="celsius"]) .field-warning`), "above the maximum 30")
	assert.Equal(t, "422", evaluate[string](t, tab, `return document.querySelector('#call-headers tr[data-header="__stat"] td').textContent`))
	screenshot(t, tab, "call-422")

	goTo(t, tab, `location.hash = '#/thermostat/calibrate'`)
	waitUntil(t, tab, `document.querySelector('.endpoint-view[data-endpoint="calibrate"] #call-send')`, "the calibrate view")
	click(t, tab, "#call-send")
	o = finished(t, tab)
	assert.Equal(t, "error", o.Outcome)
	assert.Equal(t, "500", o.Code)
	// the library keeps a plain error's text from the caller: the status is
	// the reply's message, as it came
	stMsg := evaluate[string](t, tab, `return document.querySelector('#call-headers tr[data-header="__stMsg"] td').textContent`)
	assert.NotEmpty(t, stMsg)
	assert.Equal(t, "error 500: "+stMsg, o.Status)
	screenshot(t, tab, "call-500")
}

// TestBrowserCallStream starts a firmware update, watches its progress
// move, and cancels it: the handler's context ends with ErrCallerCanceled.
func TestBrowserCallStream(t *testing.T) {
	t.Parallel()
	tab, p := callView(t, "firmware/update", 300*time.Millisecond)
	waitUntil(t, tab, `document.querySelector('[data-field="version"]')`, "the form from the schema")
	assert.True(t, evaluate[bool](t, tab, `return document.querySelector('#call-cancel').disabled`), "Cancel with nothing to cancel")
	typeInto(t, tab, `input[data-param="id"]`, "dev-42")
	typeInto(t, tab, `[data-field="version"]`, "2.1.0")
	click(t, tab, "#call-send")

	waitUntil(t, tab, `document.querySelectorAll('#stream-responses li').length >= 1`, "the first response")
	first := evaluate[float64](t, tab, `return document.querySelector('#stream-progress').value`)
	waitUntil(t, tab, `document.querySelectorAll('#stream-responses li').length >= 3`, "three responses")
	third := evaluate[float64](t, tab, `return document.querySelector('#stream-progress').value`)
	assert.Greater(t, third, first, "the progress bar moves")
	assert.False(t, evaluate[bool](t, tab, `return document.querySelector('#call-cancel').disabled`), "Cancel while the update runs")
	screenshot(t, tab, "call-stream-running")

	cancelCall(t, tab, p)
	n := evaluate[int](t, tab, `return document.querySelectorAll('#stream-responses li').length`)
	assert.GreaterOrEqual(t, n, 3)
	assert.Less(t, n, 11, "the update was canceled before its end")
	assert.True(t, evaluate[bool](t, tab, `return document.querySelector('#call-cancel').disabled`))
	screenshot(t, tab, "call-stream-canceled")
}

// cancelCall clicks Cancel on the call under way and checks that the panel
// says so and that the handler's context ended with ErrCallerCanceled.
func cancelCall(t *testing.T, tab context.Context, p *plant) {
	t.Helper()
	click(t, tab, "#call-cancel")
	o := finished(t, tab)
	assert.Equal(t, "canceled", o.Outcome)
	assert.Contains(t, o.Status, "the handler was told to stop")
	select {
	case err := <-p.ended:
		assert.True(t, errors.Is(err, mqttrpc.ErrCallerCanceled), "the handler's context ended with %v", err)
	case <-time.After(waitLimit):
		t.Fatal("the handler's context did not end")
	}
}

// TestBrowserCallCancelRequest: a plain request can be given up too, and
// Cancel reaches its handler as it does a stream's.
func TestBrowserCallCancelRequest(t *testing.T) {
	t.Parallel()
	tab, p := callView(t, "firmware/verify", time.Millisecond)
	typeInto(t, tab, `input[data-param="id"]`, "42")
	setValue(t, tab, "#call-timeout", "30")
	click(t, tab, "#call-send")
	select {
	case <-p.verifying:
	case <-time.After(waitLimit):
		t.Fatal("the verification did not start")
	}
	waitUntil(t, tab, `!document.querySelector('#call-cancel').disabled`, "Cancel while the request waits")
	cancelCall(t, tab, p)
	assert.True(t, evaluate[bool](t, tab, `return document.querySelector('#call-cancel').disabled`))
}

// TestBrowserCallMarkup: a reply that is markup is shown as its text;
// nothing of it runs or renders.
func TestBrowserCallMarkup(t *testing.T) {
	t.Parallel()
	tab, _ := callView(t, "odd/markup", time.Second)
	title := evaluate[string](t, tab, `return document.title`)
	click(t, tab, "#call-send")
	o := finished(t, tab)
	require.Equal(t, "ok", o.Outcome, o.Status)
	assert.Equal(t, markup, o.Body)
	assert.Equal(t, title, evaluate[string](t, tab, `return document.title`))
	assert.Equal(t, 0, evaluate[int](t, tab, `return document.querySelectorAll('#call-body *, #call-result img, #call-result script, img').length`))
	// The download is a file to save, never a page: a blob URL opened in
	// a tab would run the reply's script as the explorer's own origin.
	assert.Equal(t, "application/octet-stream", evaluate[string](t, tab,
		`return (await (await fetch(document.querySelector('#call-download').href)).blob()).type`))
	screenshot(t, tab, "call-markup")
}

// TestBrowserCallHuge: a 10 MiB reply shows its size and its first 64 KiB,
// with the whole body to download, and the page still calls.
func TestBrowserCallHuge(t *testing.T) {
	t.Parallel()
	tab, _ := callView(t, "odd/huge", time.Second)
	click(t, tab, "#call-send")
	o := finished(t, tab)
	require.Equal(t, "ok", o.Outcome, o.Status)
	assert.Contains(t, text(t, tab, "#call-body-meta"), "10.0 MiB")
	assert.LessOrEqual(t, len(o.Body), 64*1024+100)
	assert.GreaterOrEqual(t, len(o.Body), 64*1024)
	size := evaluate[int](t, tab, `return (await (await fetch(document.querySelector('#call-download').href)).blob()).size`)
	assert.Equal(t, 10<<20, size)
	screenshot(t, tab, "call-huge")

	goTo(t, tab, `location.hash = '#/thermostat/read'`)
	waitUntil(t, tab, `document.querySelector('.endpoint-view[data-endpoint="read"] input[data-param="room"]')`, "the read view")
	typeInto(t, tab, `input[data-param="room"]`, "attic")
	click(t, tab, "#call-send")
	o = finished(t, tab)
	require.Equal(t, "ok", o.Outcome, o.Status)
	assert.Contains(t, o.Body, `"room": "attic"`)
}

// TestBrowserCallSchemaMalformed: a request schema no form can come from
// leaves the raw editor, says why, and the call still works; a body that
// is not JSON is not sent.
func TestBrowserCallSchemaMalformed(t *testing.T) {
	t.Parallel()
	odd := func(url string) {
		ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
		defer cancel()
		b := libBroker(t, url)
		svc, err := b.Service(ctx, mqttrpc.ServiceConfig{Name: "schemas", Version: "1.0.0"})
		require.NoError(t, err)
		echo := mqttrpc.HandlerFunc(func(_ context.Context, m *mqttrpc.Message) (*mqttrpc.Response, error) {
			return &mqttrpc.Response{Body: m.Body, ContentType: m.ContentType}, nil
		})
		for name, schema := range map[string]string{
			"dangling": `{"$ref": "#/$defs/Missing", "$defs": {}}`,
			"cycle":    `{"$ref": "#/$defs/A", "$defs": {"A": {"$ref": "#/$defs/B"}, "B": {"$ref": "#/$defs/A"}}}`,
			"unknown":  `{"type": "object", "properties": {"x": {"type": "frobnicate"}}}`,
			"list":     `[1, 2, 3]`,
		} {
			_, err := svc.Endpoint(ctx, name, "schemas/"+name, echo, mqttrpc.EndpointSchemaJSON(json.RawMessage(schema), nil))
			require.NoError(t, err)
		}
	}
	tab, _ := callView(t, "schemas/dangling", time.Second, odd)
	for _, c := range []struct{ endpoint, why string }{
		{"dangling", "$ref #/$defs/Missing does not resolve"},
		{"cycle", "refers back to itself"},
		{"unknown", `unknown type "frobnicate"`},
		{"list", "not a JSON object"},
	} {
		goTo(t, tab, `location.hash = '#/schemas/`+c.endpoint+`'`)
		waitUntil(t, tab, `document.querySelector('.endpoint-view[data-endpoint="`+c.endpoint+`"] #call-schema-note')?.dataset.kind === 'warning'`, "the schema judged")
		assert.Contains(t, text(t, tab, "#call-schema-note"), c.why, c.endpoint)
		assert.False(t, evaluate[bool](t, tab, `return document.querySelector('#call-raw').closest('.raw-area').hidden`), c.endpoint)
		assert.True(t, evaluate[bool](t, tab, `return document.querySelector('#call-mode').disabled`), c.endpoint)
		assert.Equal(t, 0, evaluate[int](t, tab, `return document.querySelectorAll('section.call [data-field]').length`), c.endpoint)
	}
	screenshot(t, tab, "call-schema-malformed")

	typeInto(t, tab, "#call-raw", `{"a": 1`)
	click(t, tab, "#call-send")
	waitUntil(t, tab, `document.querySelector('#call-raw-error').textContent.includes('not JSON')`, "the JSON refused")
	assert.True(t, evaluate[bool](t, tab, `return document.querySelector('#call-result').hidden`), "a body that is not JSON was sent")
	// The message goes once the JSON is whole, and the Send button stays
	// where it was, under the pointer on its way there.
	const sendTop = `return document.querySelector('#call-send').getBoundingClientRect().top`
	before := evaluate[float64](t, tab, sendTop)
	typeInto(t, tab, "#call-raw", `}`)
	require.Equal(t, `{"a": 1}`, evaluate[string](t, tab, `return document.querySelector('#call-raw').value`))
	waitUntil(t, tab, `document.querySelector('#call-raw-error').textContent === ''`, "the JSON judged whole")
	assert.Equal(t, before, evaluate[float64](t, tab, sendTop), "the Send button moved")
	click(t, tab, "#call-send")
	o := finished(t, tab)
	require.Equal(t, "ok", o.Outcome, o.Status)
	assert.JSONEq(t, `{"a": 1}`, o.Body)
}

// TestBrowserCallNoReply: an endpoint that never replies is published to,
// with no reply waited for.
func TestBrowserCallNoReply(t *testing.T) {
	t.Parallel()
	got := make(chan string, 1)
	notify := func(url string) {
		ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
		defer cancel()
		b := libBroker(t, url)
		svc, err := b.Service(ctx, mqttrpc.ServiceConfig{Name: "panel", Version: "1.0.0"})
		require.NoError(t, err)
		_, err = svc.Endpoint(ctx, "notify", "panel/{who}/notify", mqttrpc.HandlerFunc(
			func(_ context.Context, m *mqttrpc.Message) (*mqttrpc.Response, error) {
				got <- m.Param("who") + " " + string(m.Body) + " " + m.Headers["shift"]
				return nil, nil
			}), mqttrpc.NoReply(), mqttrpc.QoS(1))
		require.NoError(t, err)
	}
	tab, _ := callView(t, "panel/notify", time.Second, notify)
	assert.Equal(t, "1", evaluate[string](t, tab, `return document.querySelector('#call-qos').value`), "the endpoint's QoS")
	typeInto(t, tab, `input[data-param="who"]`, "ops")
	typeInto(t, tab, "#call-raw", "boiler 2 restarted")
	click(t, tab, "#call-add-header")
	typeInto(t, tab, `.header-row [data-header="key"]`, "shift")
	typeInto(t, tab, `.header-row [data-header="value"]`, "night")
	started := time.Now()
	click(t, tab, "#call-send")
	o := finished(t, tab)
	assert.Equal(t, "ok", o.Outcome, o.Status)
	assert.Contains(t, o.Status, "no reply to wait for")
	assert.Less(t, time.Since(started), 3*time.Second, "the page waited for a reply")
	select {
	case m := <-got:
		assert.Equal(t, "ops boiler 2 restarted night", m)
	case <-time.After(waitLimit):
		t.Fatal("the handler got nothing")
	}
	screenshot(t, tab, "call-no-reply")
}
