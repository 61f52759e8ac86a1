package provision

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"os"
	"sync"
	"time"
)

// MaxDocument bounds a fetched document: a whole configuration is a few
// KiB (the web UI's upload limit is the same).
const MaxDocument = 1_000_000

// Results of a fetch, as Status.Result gives them.
const (
	ResultApplied   = "applied"   // fetched and applied
	ResultUnchanged = "unchanged" // 304, the same document again, or nothing it sets differs
	ResultRefused   = "refused"   // fetched, but not TOML or not a valid configuration: nothing changed
	ResultFailed    = "failed"    // not fetched: no answer, an HTTP error, a bad URL
)

// Settings are what the configuration says; Fetcher.Set changes them while
// it runs.
type Settings struct {
	// URL is the document's URL with {mac} and {model} to fill in; ""
	// uses the URL the DHCP lease gave (Options.DHCPFile).
	URL string
	// Interval between fetches (each wait jittered by ±10 %).
	Interval time.Duration
}

// Options configure a Fetcher.
type Options struct {
	Settings
	// MAC and Model fill {mac} and {model}.
	MAC, Model string
	// DHCPFile is the file the DHCP client script writes (DHCPFile); ""
	// reads none.
	DHCPFile string
	// Apply gets each new document (source is its URL) and applies it,
	// or returns why not; changed is false when the document changes
	// nothing. It is not called again for a document that has not
	// changed since (ETag, Last-Modified, or the same bytes).
	Apply func(ctx context.Context, source string, doc []byte) (changed bool, err error)
	// Client fetches; nil: a client with a 30 s timeout.
	Client *http.Client
	// RetryMin is the first wait after a failed fetch, doubling up to the
	// interval (default 30 s); WaitForURL is how often the DHCP file is
	// read again while no URL is known (default 30 s).
	RetryMin, WaitForURL time.Duration
	// UserAgent is sent with each request.
	UserAgent string
	// OnStatus is called after each fetch (to refresh status views).
	OnStatus func()
	Logger   *slog.Logger
}

// Status is the last fetch, for the status page.
type Status struct {
	// URL is the URL last fetched (filled in); Source where it came from:
	// "[provisioning] url", "dhcp option 66", "dhcp option 160"; "" when
	// there is none (provisioning is off).
	URL, Source string
	At          time.Time // the last fetch; zero before the first
	Result      string    // one of the Result constants; "" before the first
	Error       string    // why it was refused or failed
	// LastApplied is when a document last changed the configuration.
	LastApplied time.Time
	Next        time.Time // the next fetch; zero when none is planned
}

// Fetcher fetches the provisioning document on its schedule.
type Fetcher struct {
	o    Options
	log  *slog.Logger
	wake chan struct{}

	mu       sync.Mutex
	set      Settings
	st       Status
	etag     string   // validators of the last document fetched from lastURL
	modified string   // Last-Modified
	lastURL  string   // the URL the validators belong to
	lastSum  [32]byte // the last document's SHA-256 (a server without validators)
	haveSum  bool
}

// New makes a Fetcher; Run starts it.
func New(o Options) *Fetcher {
	if o.Client == nil {
		o.Client = &http.Client{Timeout: 30 * time.Second}
	}
	if o.RetryMin <= 0 {
		o.RetryMin = 30 * time.Second
	}
	if o.WaitForURL <= 0 {
		o.WaitForURL = 30 * time.Second
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	return &Fetcher{o: o, log: o.Logger, wake: make(chan struct{}, 1), set: o.Settings}
}

// Set changes the settings; a new URL is fetched at once, a new interval
// counts from the last fetch.
func (f *Fetcher) Set(s Settings) {
	f.mu.Lock()
	changed := f.set != s
	f.set = s
	f.mu.Unlock()
	if changed {
		f.Poke()
	}
}

// Poke fetches now (a changed DHCP lease, a test).
func (f *Fetcher) Poke() {
	select {
	case f.wake <- struct{}{}:
	default:
	}
}

// Status is the last fetch.
func (f *Fetcher) Status() Status {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.st
}

// Run fetches at once, then on the interval, until ctx ends.
func (f *Fetcher) Run(ctx context.Context) {
	retry := time.Duration(0)
	for {
		wait := f.round(ctx, &retry)
		if f.o.OnStatus != nil {
			f.o.OnStatus()
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		case <-f.wake:
			t.Stop()
		}
	}
}

// round does one fetch (if there is a URL) and says how long to wait;
// the status has the fetch and the next one together.
func (f *Fetcher) round(ctx context.Context, retry *time.Duration) time.Duration {
	f.mu.Lock()
	set := f.set
	f.mu.Unlock()
	u, source, err := f.url(set)
	if u == "" && err == nil {
		wait := f.o.WaitForURL // the DHCP lease may name one later
		if f.o.DHCPFile == "" || set.URL != "" {
			wait = 24 * time.Hour // nothing to fetch until Set or Poke
		}
		f.mu.Lock()
		f.st.URL, f.st.Source, f.st.Result, f.st.Error, f.st.Next = "", "", "", "", time.Time{}
		f.mu.Unlock()
		return wait
	}
	result, ferr := ResultFailed, err
	if err == nil {
		result, ferr = f.fetch(ctx, u)
	}
	if ctx.Err() != nil {
		return 0
	}
	var wait time.Duration
	switch result {
	case ResultFailed:
		f.log.Warn("provision: fetch failed", "url", u, "source", source, "err", ferr)
		if *retry == 0 {
			*retry = f.o.RetryMin
		} else {
			*retry = min(2**retry, set.Interval)
		}
		wait = jitter(min(*retry, set.Interval))
	case ResultRefused:
		f.log.Error("provision: document refused; the running configuration stays", "url", u, "err", ferr)
	case ResultApplied:
		f.log.Info("provision: document applied", "url", u, "source", source)
	default:
		f.log.Debug("provision: document unchanged", "url", u)
	}
	if result != ResultFailed {
		*retry = 0
		wait = jitter(set.Interval)
	}
	now := time.Now()
	f.mu.Lock()
	f.st.URL, f.st.Source, f.st.At, f.st.Result, f.st.Error, f.st.Next = u, source, now, result, "", now.Add(wait)
	if ferr != nil {
		f.st.Error = ferr.Error()
	}
	if result == ResultApplied {
		f.st.LastApplied = now
	}
	f.mu.Unlock()
	return wait
}

// jitter spreads d by ±10 % so that a fleet's fetches spread out.
func jitter(d time.Duration) time.Duration {
	return time.Duration(float64(d) * (0.9 + 0.2*rand.Float64()))
}

// url is the URL to fetch now and where it came from.
func (f *Fetcher) url(set Settings) (u, source string, err error) {
	if set.URL != "" {
		return Expand(set.URL, f.o.MAC, f.o.Model), "[provisioning] url", nil
	}
	if f.o.DHCPFile == "" {
		return "", "", nil
	}
	data, err := os.ReadFile(f.o.DHCPFile)
	if errors.Is(err, os.ErrNotExist) {
		return "", "", nil
	}
	if err != nil {
		return "", "", err
	}
	u, source, err = DHCPURL(data)
	if err != nil {
		return "", source, err
	}
	return Expand(u, f.o.MAC, f.o.Model), source, nil
}

// fetch gets u (conditionally) and hands a new document to Apply.
func (f *Fetcher) fetch(ctx context.Context, u string) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return ResultFailed, err
	}
	f.mu.Lock()
	if f.lastURL == u {
		if f.etag != "" {
			req.Header.Set("If-None-Match", f.etag)
		}
		if f.modified != "" {
			req.Header.Set("If-Modified-Since", f.modified)
		}
	}
	f.mu.Unlock()
	if f.o.UserAgent != "" {
		req.Header.Set("User-Agent", f.o.UserAgent)
	}
	req.Header.Set("Accept", "application/toml, text/plain;q=0.9, */*;q=0.5")
	res, err := f.o.Client.Do(req)
	if err != nil {
		return ResultFailed, err
	}
	defer res.Body.Close()
	if res.StatusCode == http.StatusNotModified {
		return ResultUnchanged, nil
	}
	if res.StatusCode != http.StatusOK {
		io.Copy(io.Discard, io.LimitReader(res.Body, 64<<10))
		return ResultFailed, fmt.Errorf("the server answered %s", res.Status)
	}
	body, err := io.ReadAll(io.LimitReader(res.Body, MaxDocument+1))
	if err != nil {
		return ResultFailed, fmt.Errorf("reading the document: %w", err)
	}
	if len(body) > MaxDocument {
		return ResultRefused, fmt.Errorf("the document is larger than %d bytes: not a configuration", MaxDocument)
	}
	sum := sha256.Sum256(body)
	f.mu.Lock()
	same := f.lastURL == u && f.haveSum && sum == f.lastSum
	f.lastURL, f.lastSum, f.haveSum = u, sum, true
	f.etag, f.modified = res.Header.Get("ETag"), res.Header.Get("Last-Modified")
	f.mu.Unlock()
	if same {
		return ResultUnchanged, nil
	}
	changed, err := f.o.Apply(ctx, u, body)
	if err != nil {
		// Fetched in full again next time: what refused it may not be
		// the document (a change of address waiting to be confirmed).
		f.mu.Lock()
		f.lastURL, f.haveSum, f.etag, f.modified = "", false, "", ""
		f.mu.Unlock()
		return ResultRefused, err
	}
	if !changed {
		return ResultUnchanged, nil
	}
	return ResultApplied, nil
}
