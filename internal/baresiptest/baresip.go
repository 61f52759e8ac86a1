// Package baresiptest runs Debian's baresip (1.0.x, package baresip-core)
// as the far-end phone in integration tests. Each Phone is a private
// baresip process bound to 127.0.0.1 (its own SIP port, ctrl_tcp port,
// directory and capture of its RTP; any number run at once), driven through its
// ctrl_tcp module (netstring-framed JSON commands and events). It plays
// a WAV the test supplies (aufile, e.g. a Tone of its own) and the
// harness records the RTP it receives on a wall-clock timeline (Heard,
// HeardLevel, HeardPackets, CallHeard: see tap.go for why not sndfile).
// No audio hardware is used.
//
// # Hearing over time
//
// Take reference times from events (Event.Time, when the harness read
// the event) or time.Now() around a command, and ask for windows relative
// to them: far.HeardLevel(1000, up.Time.Add(300*time.Millisecond),
// up.Time.Add(1300*time.Millisecond)). Heard sleeps until the window's
// end plus HeardLag (100 ms). Audio is placed by RTP timestamp, within a
// few ms of its arrival; a call's media starts about 10-30 ms after
// CALL_ESTABLISHED, hold and resume act within ~50 ms of the command on an
// idle machine. Keep windows 200-300 ms clear of such edges, and judge
// "not heard" against about -40 dBm0 (a tone heard measures near its
// level; a phase jump in a delayed stream splatters to about -45).
// All of this needs packet capture on lo (root or CAP_NET_RAW); without
// it the phones still work and RecordedAudio falls back to sndfile.
//
// # What baresip 1.0.0 does (each shown by a test here)
//
// Commands (ctrl_tcp; "help" lists them, the call ones only during a
// call): dial URI, accept, hangup, hold, resume, transfer URI, sndcode
// KEYS, callfind CALLID (select the current call), line N, listcalls,
// audio_debug, reinvite. There is no attended-transfer command.
//
//   - Hold sends a re-INVITE with a=sendonly; the held baresip answers
//     a=recvonly. Neither side then sends any RTP: the holder sends none
//     although sendonly (no music on hold) and the held one honours
//     recvonly. Resume (a=sendrecv) restores both. There is no hold event:
//     the held side only gets CALL_REMOTE_SDP "offer"; AudioDir reads the
//     direction (recvonly when held). TestThreePhonesHoldAndResume.
//   - sndcode sends RFC 4733 telephone-events (payload type 101), never
//     in-band; the receiver reports CALL_DTMF_START (key) and
//     CALL_DTMF_END (no key). TestDTMFInBandAndRFC4733.
//   - An incoming REFER is accepted by default (202, no setting or module
//     needed; Allow lists REFER): TRANSFER event, a new call to the
//     Refer-To URI (same account, through the outbound proxy, no
//     Referred-By), NOTIFYs with message/sipfrag bodies ("SIP/2.0 100
//     Trying", then the new call's final status with Subscription-State:
//     terminated). The transferee keeps the old call until the transferor
//     hangs it up. As transferor, baresip sends BYE after the final
//     NOTIFY, whether 200 (Closed "Call transfered") or a failure
//     (TRANSFER_FAILED "404 Not Found", then BYE without a Closed event).
//     Kamailio (kamailiotest) relays REFER and NOTIFY in the dialog as
//     they are. TestBlindTransfer, TestFailedBlindTransfer.
//   - No Replaces (RFC 3891): INVITEs carry an empty "Supported:" header;
//     an INVITE with a Replaces header is a new call and the old one stays
//     (with "Require: replaces": 420 Bad Extension); a REFER whose
//     Refer-To has ?Replaces=... is followed as a plain call to the whole
//     URI, "?Replaces=..." left in the Request-URI (its %3B/%3D turned into
//     '?'), so the target gets a second call and keeps the consultation
//     call. An attended transfer towards baresip therefore ends as two
//     calls at the target unless the transferor hangs up the consultation
//     call itself. TestReferWithReplacesBecomesAPlainCall,
//     TestInviteWithReplacesIsANewCall.
//   - Event IDs (Event.CallID) are the SIP Call-IDs, the same on both
//     ends of a direct call.
package baresiptest

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/openata/ata/internal/syncbuf"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/openata/ata/board/pcm"
)

// IncomingMode says what the phone does with an incoming call.
type IncomingMode int

const (
	// Ring leaves an incoming call ringing until Answer or Hangup.
	Ring IncomingMode = iota
	// AutoAnswer answers after Opts.AnswerDelay.
	AutoAnswer
	// Busy rejects at once with "486 Rejected" (after baresip's automatic 180).
	Busy
)

// Opts configures a Phone. The zero value is an unregistered phone
// "sip:baresip@127.0.0.1:PORT" that rings on incoming calls and sends silence.
type Opts struct {
	// User is the account's user part (default "baresip"); DisplayName is
	// sent in From.
	User, DisplayName string
	// Registrar is host:port of the registrar, used as outbound proxy for
	// all requests. Empty: no registration, the phone takes direct calls.
	Registrar string
	// Domain of the AoR sip:User@Domain (default: Registrar, else the
	// phone's own address). kamailiotest's script only treats its own
	// address as local, so leave it empty with Kamailio.
	Domain string
	// AuthUser (default User) and Password answer digest challenges.
	AuthUser, Password string
	// RegisterExpires is the requested expiry (default 600 s).
	RegisterExpires time.Duration
	// Transport is how the phone reaches Registrar: "" or "udp", or "tcp"
	// (the outbound proxy URI gets ;transport=tcp: REGISTER and calls go
	// over one TCP connection, as Linphone and Zoiper set to TCP do).
	Transport string
	// NoRegisterWait makes Start return without waiting for REGISTER_OK
	// (to test a failing registration). By default Start fails the test
	// unless the phone registers within 5 s.
	NoRegisterWait bool

	Incoming    IncomingMode
	AnswerDelay time.Duration // for AutoAnswer

	// Audio is what the phone sends in every call: 8 kHz mono samples
	// (see Tone). It loops, or with PlayOnce is followed by silence.
	Audio    []int16
	PlayOnce bool
	// MaxCall is the length of the audio file baresip plays (default 60 s):
	// baresip ends a call with "end of file" when it runs out.
	MaxCall time.Duration

	// Verbose adds baresip's debug output and a SIP trace to the log.
	Verbose bool
	// AudioCodecs limits the account's codecs ("PCMA"); empty: all.
	AudioCodecs string
	// MediaEnc is the account's media encryption (baresip's mediaenc):
	// "srtp" (best effort: offers RTP/AVP with a=crypto, takes SRTP or
	// plain RTP), "srtp-mand" (RTP/SAVP only: refuses a call without
	// keys), "srtp-mandf" (RTP/SAVPF); empty: plain RTP. The srtp module
	// is loaded for it. The capture then holds encrypted RTP: Heard and
	// its friends refuse, RecordedAudio is sndfile's decoded recording.
	MediaEnc string
}

// Phone is a running baresip.
type Phone struct {
	t       testing.TB
	opts    Opts
	dir     string
	sipAddr netip.AddrPort
	aor     string
	started time.Time

	cmd  *exec.Cmd
	done chan struct{} // closed when the process has exited
	log  syncbuf.Buffer

	conn    net.Conn
	writeMu sync.Mutex

	tap    *tap  // received RTP, see tap.go; nil without capture rights
	tapErr error // why tap is nil

	mu       sync.Mutex
	events   []Event
	cursor   map[Kind]int // next index WaitEvent scans from, per kind
	changed  chan struct{}
	pending  map[string]chan message
	token    int
	stopping bool
	readErr  error
	timers   []*time.Timer
	// firstSeen is when each call ID first appeared in an event.
	firstSeen map[string]time.Time
}

var safeParam = regexp.MustCompile(`^[A-Za-z0-9_.+\-!~*'()&=$]*$`)

// Start writes a private configuration, starts baresip and connects to
// its control port; the process is stopped when the test ends, and its
// log is printed if the test failed. Start fails the test when baresip
// is missing or does not come up. Startup takes about 0.1 s (plus one
// REGISTER round trip).
func Start(t testing.TB, opts Opts) *Phone {
	t.Helper()
	if _, err := exec.LookPath("baresip"); err != nil {
		t.Fatalf("install baresip: apt-get install baresip-core (%v)", err)
	}
	mods := []string{"ctrl_tcp", "aufile", "sndfile", "g711", "menu", "account", "stun"}
	if opts.MediaEnc != "" {
		mods = append(mods, "srtp")
	}
	for _, m := range mods {
		if _, err := os.Stat(filepath.Join(modulePath, m+".so")); err != nil {
			t.Fatalf("install baresip: apt-get install baresip-core (module %s missing: %v)", m, err)
		}
	}
	if opts.User == "" {
		opts.User = "baresip"
	}
	if opts.AuthUser == "" {
		opts.AuthUser = opts.User
	}
	if opts.RegisterExpires == 0 {
		opts.RegisterExpires = 600 * time.Second
	}
	if opts.MaxCall == 0 {
		opts.MaxCall = 60 * time.Second
	}
	for name, v := range map[string]string{"User": opts.User, "AuthUser": opts.AuthUser, "Password": opts.Password,
		"Domain": opts.Domain, "Registrar": opts.Registrar} {
		if !safeParam.MatchString(strings.ReplaceAll(v, ":", "")) || v != strings.TrimSpace(v) {
			t.Fatalf("baresiptest: %s %q has characters an account line cannot carry", name, v)
		}
	}
	if opts.Transport != "" && opts.Transport != "udp" && opts.Transport != "tcp" {
		t.Fatalf("baresiptest: transport %q: udp or tcp", opts.Transport)
	}
	if strings.ContainsAny(opts.DisplayName, "\"\\\r\n") {
		t.Fatalf("baresiptest: display name %q cannot be quoted", opts.DisplayName)
	}
	// A short path of our own: t.TempDir may contain '#' or ',' (subtests),
	// which baresip's config parser reads as a comment or list separator.
	dir, err := os.MkdirTemp("", "baresip")
	if err != nil {
		t.Fatalf("baresiptest: %v", err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	p := &Phone{t: t, opts: opts, dir: dir, cursor: map[Kind]int{}, changed: make(chan struct{}),
		pending: map[string]chan message{}, firstSeen: map[string]time.Time{}}
	p.tap, p.tapErr = newTap()
	if err := os.WriteFile(p.path("play.wav"), pcm.EncodeWAV(playback(opts), sampleRate), 0o644); err != nil {
		t.Fatalf("baresiptest: %v", err)
	}
	t.Cleanup(func() {
		p.stop()
		if p.tap != nil {
			p.tap.close()
		}
		if t.Failed() {
			t.Logf("baresip %s log:\n%s", p.aor, p.Log())
		}
	})
	p.launch()
	p.addAccount()
	return p
}

const (
	modulePath = "/usr/lib/baresip/modules"
	sampleRate = 8000
)

// launch starts baresip and connects to ctrl_tcp, retrying with new
// ports when one it picked was taken meanwhile.
func (p *Phone) launch() {
	p.t.Helper()
	for attempt := 1; ; attempt++ {
		sipPort, ctrlPort := freePorts(p.t)
		p.sipAddr = netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), uint16(sipPort))
		if err := os.WriteFile(p.path("config"), p.config(sipPort, ctrlPort), 0o644); err != nil {
			p.t.Fatalf("baresiptest: %v", err)
		}
		// Accounts are added over ctrl_tcp once connected, so that no
		// REGISTER_OK event can fire before anyone listens.
		for _, f := range []string{"accounts", "contacts"} {
			if err := os.WriteFile(p.path(f), nil, 0o644); err != nil {
				p.t.Fatalf("baresiptest: %v", err)
			}
		}
		args := []string{"-f", p.dir}
		if p.opts.Verbose {
			args = append(args, "-v", "-s")
		}
		p.log.Reset()
		cmd := exec.Command("baresip", args...)
		cmd.Dir = p.dir
		cmd.Stdout, cmd.Stderr = &p.log, &p.log
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
		p.started = time.Now()
		if err := cmd.Start(); err != nil {
			p.t.Fatalf("baresiptest: start baresip: %v", err)
		}
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		p.cmd, p.done = cmd, done
		conn, err := dialCtrl(ctrlPort, done)
		if err == nil {
			p.conn = conn
			go p.readLoop(bufio.NewReader(conn))
			return
		}
		p.kill()
		if attempt < 3 && strings.Contains(p.log.String(), "in use") {
			continue
		}
		p.t.Fatalf("baresiptest: %v; log:\n%s", err, p.Log())
	}
}

// dialCtrl connects to ctrl_tcp, polling until baresip listens.
func dialCtrl(port int, exited <-chan struct{}) (net.Conn, error) {
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	deadline := time.Now().Add(5 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			return c, nil
		}
		select {
		case <-exited:
			return nil, errors.New("baresip exited at startup")
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("baresip: control port %s: %w", addr, err)
		}
	}
}

func (p *Phone) config(sipPort, ctrlPort int) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, `# written by baresiptest
poll_method		epoll
sip_listen		127.0.0.1:%d
net_interface		127.0.0.1
call_local_timeout	120
call_max_calls		4
audio_source		aufile,%s
rtp_ports		20000-40000
jitter_buffer_delay	1-5
module_path		%s
module			g711.so
module			aufile.so
module			sndfile.so
module			stun.so
module_tmp		account.so
module_app		contact.so
module_app		menu.so
module_app		ctrl_tcp.so
ctrl_tcp_listen		127.0.0.1:%d
snd_path		%s
`, sipPort, p.path("play.wav"), modulePath, ctrlPort, p.dir)
	if p.opts.MediaEnc != "" {
		b.WriteString("module\t\t\tsrtp.so\n")
	}
	return b.Bytes()
}

// accountLine is the account in baresip's accounts-file syntax.
func (p *Phone) accountLine() string {
	o := p.opts
	domain := o.Domain
	if domain == "" {
		domain = o.Registrar
	}
	if domain == "" {
		domain = p.sipAddr.String()
	}
	p.aor = "sip:" + o.User + "@" + domain
	var b strings.Builder
	if o.DisplayName != "" {
		fmt.Fprintf(&b, "%q ", o.DisplayName)
	}
	fmt.Fprintf(&b, "<%s>", p.aor)
	if o.Password != "" {
		fmt.Fprintf(&b, ";auth_user=%s;auth_pass=%s", o.AuthUser, o.Password)
	}
	if o.Registrar != "" {
		tr := ""
		if o.Transport == "tcp" {
			tr = ";transport=tcp"
		}
		fmt.Fprintf(&b, ";outbound=\"sip:%s%s\";regint=%d", o.Registrar, tr, int(o.RegisterExpires.Seconds()))
	} else {
		b.WriteString(";regint=0")
	}
	b.WriteString(";answermode=manual")
	if o.AudioCodecs != "" {
		fmt.Fprintf(&b, ";audio_codecs=%s", o.AudioCodecs)
	}
	if o.MediaEnc != "" {
		fmt.Fprintf(&b, ";mediaenc=%s", o.MediaEnc)
	}
	if p.tap != nil {
		fmt.Fprintf(&b, ";medianat=stun;stunserver=stun:%s", p.tap.addr())
	}
	return b.String()
}

func (p *Phone) addAccount() {
	p.t.Helper()
	if _, err := p.Command("uanew", p.accountLine()); err != nil {
		p.t.Fatalf("baresiptest: add account: %v", err)
	}
	if p.opts.Registrar == "" || p.opts.NoRegisterWait {
		return
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		p.mu.Lock()
		var fail *Event
		for i := range p.events {
			switch p.events[i].Kind {
			case Registered:
				p.mu.Unlock()
				return
			case RegisterFailed:
				fail = &p.events[i]
			}
		}
		ch := p.changed
		p.mu.Unlock()
		if fail != nil {
			p.t.Fatalf("baresiptest: %s did not register: %s", p.aor, fail.Param)
		}
		select {
		case <-ch:
		case <-time.After(time.Until(deadline)):
			p.t.Fatalf("baresiptest: %s not registered with %s within 5 s", p.aor, p.opts.Registrar)
		}
	}
}

// playback is the audio file content: Audio looped (or padded with
// silence) to MaxCall.
func playback(o Opts) []int16 {
	n := int(o.MaxCall.Seconds() * sampleRate)
	out := make([]int16, n)
	if len(o.Audio) == 0 {
		return out
	}
	if o.PlayOnce {
		copy(out, o.Audio)
		return out
	}
	for i := 0; i < n; i += len(o.Audio) {
		copy(out[i:], o.Audio)
	}
	return out
}

// Addr is the phone's SIP address (UDP).
func (p *Phone) Addr() netip.AddrPort { return p.sipAddr }

// AOR is the account's address of record, sip:User@Domain.
func (p *Phone) AOR() string { return p.aor }

// URI is where a direct call reaches this phone: sip:User@127.0.0.1:PORT.
func (p *Phone) URI() string { return "sip:" + p.opts.User + "@" + p.sipAddr.String() }

// Dir is the phone's configuration and recording directory.
func (p *Phone) Dir() string { return p.dir }

// Dial calls uri (through the registrar when registered).
func (p *Phone) Dial(uri string) {
	p.t.Helper()
	p.mustCommand("dial", uri)
}

// Answer answers the ringing call.
func (p *Phone) Answer() {
	p.t.Helper()
	p.mustCommand("accept", "")
}

// Hangup ends the current call (BYE once established) or, while it rings
// in, rejects it with "486 Rejected". Answer and Hangup act on baresip's
// current call: keep to one call per phone at a time.
func (p *Phone) Hangup() {
	p.t.Helper()
	p.mustCommand("hangup", "")
}

// SendDTMF sends keys (0-9 * # A-D) as RFC 4733 events in the current call.
func (p *Phone) SendDTMF(keys string) {
	p.t.Helper()
	for i := 0; i < len(keys); i++ {
		if _, _, ok := pcm.DTMFFrequencies(keys[i]); !ok {
			p.t.Fatalf("baresiptest: %q is not a DTMF key", keys[i])
		}
	}
	p.mustCommand("sndcode", keys)
}

func (p *Phone) mustCommand(cmd, params string) {
	p.t.Helper()
	if _, err := p.Command(cmd, params); err != nil {
		p.t.Fatalf("baresiptest: %s: %v", p.aor, err)
	}
}

// Command sends a raw baresip command (see "help") and returns its output.
func (p *Phone) Command(cmd, params string) (string, error) {
	p.mu.Lock()
	if p.stopping || p.readErr != nil {
		err := p.readErr
		p.mu.Unlock()
		return "", fmt.Errorf("baresip %s: control connection closed: %v", cmd, err)
	}
	p.token++
	token := strconv.Itoa(p.token)
	ch := make(chan message, 1)
	p.pending[token] = ch
	p.mu.Unlock()
	defer func() {
		p.mu.Lock()
		delete(p.pending, token)
		p.mu.Unlock()
	}()
	body, err := json.Marshal(map[string]string{"command": cmd, "params": params, "token": token})
	if err != nil {
		return "", fmt.Errorf("baresip %s: %w", cmd, err)
	}
	p.writeMu.Lock()
	p.conn.SetWriteDeadline(time.Now().Add(2 * time.Second))
	_, err = p.conn.Write(appendNetstring(nil, body))
	p.writeMu.Unlock()
	if err != nil {
		return "", fmt.Errorf("baresip %s: %w", cmd, err)
	}
	select {
	case m := <-ch:
		if !m.OK {
			return m.Data, fmt.Errorf("baresip %s %q: %s", cmd, params, strings.TrimSpace(m.Data))
		}
		return m.Data, nil
	case <-p.done:
		return "", fmt.Errorf("baresip %s: baresip exited", cmd)
	case <-time.After(5 * time.Second):
		return "", fmt.Errorf("baresip %s: no response within 5 s", cmd)
	}
}

// readLoop dispatches responses to Command and records events.
func (p *Phone) readLoop(r *bufio.Reader) {
	for {
		b, err := readNetstring(r)
		var m message
		if err == nil {
			m, err = parseMessage(b)
		}
		if err != nil {
			p.mu.Lock()
			if !p.stopping {
				p.readErr = err
				fmt.Fprintf(&p.log, "baresiptest: control connection: %v\n", err)
			}
			p.broadcastLocked()
			p.mu.Unlock()
			return
		}
		if m.Response {
			p.mu.Lock()
			if ch, ok := p.pending[m.Token]; ok {
				ch <- m
			}
			p.mu.Unlock()
			continue
		}
		now := time.Now()
		ev := m.toEvent(now.Sub(p.started))
		ev.Time = now
		p.mu.Lock()
		if _, ok := p.firstSeen[ev.CallID]; !ok && ev.CallID != "" {
			p.firstSeen[ev.CallID] = now
		}
		p.events = append(p.events, ev)
		p.broadcastLocked()
		if ev.Kind == Incoming {
			p.onIncomingLocked()
		}
		p.mu.Unlock()
	}
}

// onIncomingLocked applies Opts.Incoming. Commands run on their own
// goroutine: readLoop must keep reading to deliver their responses.
func (p *Phone) onIncomingLocked() {
	var cmd string
	var delay time.Duration
	switch p.opts.Incoming {
	case AutoAnswer:
		cmd, delay = "accept", p.opts.AnswerDelay
	case Busy:
		cmd = "hangup"
	default:
		return
	}
	p.timers = append(p.timers, time.AfterFunc(delay, func() {
		if _, err := p.Command(cmd, ""); err != nil {
			fmt.Fprintf(&p.log, "baresiptest: automatic %s: %v\n", cmd, err)
		}
	}))
}

func (p *Phone) broadcastLocked() {
	close(p.changed)
	p.changed = make(chan struct{})
}

// WaitEvent returns the next event of kind after the last one WaitEvent
// returned for that kind (earlier events are kept, so the order of waits
// need not match the order of events). It fails the test after timeout.
// Call it from the test goroutine.
func (p *Phone) WaitEvent(kind Kind, timeout time.Duration) Event {
	p.t.Helper()
	ev, err := p.waitEvent(kind, timeout)
	if err != nil {
		p.t.Fatalf("baresiptest: %s: %v", p.aor, err)
	}
	return ev
}

func (p *Phone) waitEvent(kind Kind, timeout time.Duration) (Event, error) {
	deadline := time.After(timeout)
	for {
		p.mu.Lock()
		for i := p.cursor[kind]; i < len(p.events); i++ {
			if p.events[i].Kind == kind {
				p.cursor[kind] = i + 1
				ev := p.events[i]
				p.mu.Unlock()
				return ev, nil
			}
		}
		ch, readErr := p.changed, p.readErr
		p.mu.Unlock()
		if readErr != nil {
			return Event{}, fmt.Errorf("no %s event: control connection lost: %w", kind, readErr)
		}
		select {
		case <-ch:
		case <-deadline:
			return Event{}, fmt.Errorf("no %s event within %v; events so far: %s", kind, timeout, p.eventSummary())
		}
	}
}

// Events returns every event so far, in order.
func (p *Phone) Events() []Event {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]Event(nil), p.events...)
}

func (p *Phone) eventSummary() string {
	var parts []string
	for _, e := range p.Events() {
		if e.Kind == "CALL_RTCP" {
			continue
		}
		parts = append(parts, fmt.Sprintf("%s(%s)", e.Kind, e.Param))
	}
	return strings.Join(parts, " ")
}

// SentAudio is what the phone sent in its latest call, as encoded
// (baresip's sndfile "-enc.wav" recording, complete once the call has
// closed). Calls that start within the same second share a file.
func (p *Phone) SentAudio() []int16 {
	p.t.Helper()
	return p.recording("enc")
}

func (p *Phone) recording(dir string) []int16 {
	p.t.Helper()
	// sndfile names files dump-YYYY-MM-DD-hh-mm-ss-{enc,dec}.wav: the
	// lexical order of the glob is the time order.
	files, err := filepath.Glob(p.path("dump-*-" + dir + ".wav"))
	if err != nil || len(files) == 0 {
		p.t.Fatalf("baresiptest: %s has no %s recording (no call with audio yet?)", p.aor, dir)
	}
	name := files[len(files)-1]
	// The Closed event can overtake sndfile's closing of the file: wait
	// until libsndfile has written the final sizes into the header.
	deadline := time.Now().Add(2 * time.Second)
	for {
		data, err := os.ReadFile(name)
		if err != nil {
			p.t.Fatalf("baresiptest: %v", err)
		}
		if finalized(data) {
			samples, err := pcm.DecodeWAV(bytes.NewReader(data))
			if err != nil {
				p.t.Fatalf("baresiptest: recording %s: %v", name, err)
			}
			return samples
		}
		if time.Now().After(deadline) {
			p.t.Fatalf("baresiptest: recording %s still open 2 s on: wait for the Closed event first", name)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// finalized reports whether a WAV's RIFF size matches its length, which
// libsndfile writes only when it closes the file (8 while recording).
func finalized(wav []byte) bool {
	return len(wav) >= 12 && int(binary.LittleEndian.Uint32(wav[4:8])) == len(wav)-8
}

var logNoise = regexp.MustCompile(`\[\d+:\d\d:\d\d\] audio=\S+ \(bit/s\)\s*|\x1b\[[0-9;]*m`)

// Log is baresip's output so far, without its per-call status lines.
func (p *Phone) Log() string { return logNoise.ReplaceAllString(p.log.String(), "") }

// stop ends the process: SIGTERM lets baresip unregister; SIGKILL after 3 s.
// Kill ends baresip abruptly (SIGKILL), as a phone that loses power or
// network: it does not unregister, and its TCP connections close with it.
func (p *Phone) Kill() {
	p.mu.Lock()
	p.stopping = true
	p.mu.Unlock()
	p.kill()
}

func (p *Phone) stop() {
	p.mu.Lock()
	p.stopping = true
	for _, tm := range p.timers {
		tm.Stop()
	}
	p.mu.Unlock()
	if p.conn != nil {
		p.conn.Close()
	}
	if p.cmd == nil {
		return
	}
	syscall.Kill(-p.cmd.Process.Pid, syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(3 * time.Second):
		fmt.Fprintf(&p.log, "baresiptest: no exit 3 s after SIGTERM, killing\n")
	}
	p.kill()
}

func (p *Phone) kill() {
	syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
	<-p.done
}

func (p *Phone) path(name string) string { return filepath.Join(p.dir, name) }

// freePorts returns a port free for both UDP and TCP (baresip's SIP
// listens on both) and another free TCP port for ctrl_tcp.
func freePorts(t testing.TB) (sip, ctrl int) {
	t.Helper()
	for range 20 {
		u, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
		if err != nil {
			t.Fatalf("baresiptest: free port: %v", err)
		}
		port := u.LocalAddr().(*net.UDPAddr).Port
		l, err := net.ListenTCP("tcp", &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: port})
		if err != nil {
			u.Close()
			continue
		}
		c, err := net.ListenTCP("tcp", &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)})
		u.Close()
		l.Close()
		if err != nil {
			t.Fatalf("baresiptest: free port: %v", err)
		}
		ctrl = c.Addr().(*net.TCPAddr).Port
		c.Close()
		return port, ctrl
	}
	t.Fatalf("baresiptest: no port free for both UDP and TCP")
	return 0, 0
}
