package baresiptest

import (
	"slices"
	"testing"
	"time"

	"github.com/openata/ata/internal/kamailiotest"
)

// Three far ends' tones, as the firmware's tests will use them.
const (
	aliceHz = 1000
	bobHz   = 600
	carolHz = 1400
)

// trio is three registered phones, each playing its own tone, behind one
// Kamailio; bob and carol answer by themselves.
type trio struct {
	k                 *kamailiotest.Server
	alice, bob, carol *Phone
}

// startTrio starts them; the phones named in verbose log their SIP trace.
func startTrio(t *testing.T, verbose ...string) trio {
	t.Helper()
	k := kamailiotest.Start(t, kamailiotest.Config{Users: map[string]string{"alice": "pa", "bob": "pb", "carol": "pc"}})
	start := func(user, pw string, hz float64, in IncomingMode) *Phone {
		return Start(t, Opts{User: user, Password: pw, Registrar: k.Addr().String(), Incoming: in,
			Audio: Tone(hz, toneDBm0, time.Second), Verbose: slices.Contains(verbose, user)})
	}
	return trio{k, start("alice", "pa", aliceHz, Ring), start("bob", "pb", bobHz, AutoAnswer), start("carol", "pc", carolHz, AutoAnswer)}
}

func (tr trio) uri(user string) string { return "sip:" + user + "@" + tr.k.Addr().String() }

// tones logs and returns the level of each trio tone p heard in [from, to).
func tones(t *testing.T, who string, p *Phone, from, to time.Time) (a, b, c float64) {
	t.Helper()
	x := p.Heard(from, to)
	a, b, c = BlockLevel(x, aliceHz), BlockLevel(x, bobHz), BlockLevel(x, carolHz)
	t.Logf("%-5s heard %4d Hz %6.1f, %4d Hz %6.1f, %4d Hz %6.1f dBm0 (%d packets)", who, aliceHz, a, bobHz, b, carolHz, c, p.HeardPackets(from, to))
	return a, b, c
}

// hears fails unless level is the trio's tone level (G.711 and the
// window's edges lose a little).
func hears(t *testing.T, what string, level float64) {
	t.Helper()
	if level < toneDBm0-1.5 || level > toneDBm0+1 {
		t.Errorf("%s at %.1f dBm0, want %d", what, level, toneDBm0)
	}
}

// silent fails unless level is far below the tones: -40 dBm0 leaves room
// for the splatter of a phase jump (a loaded machine delaying packets
// past maxSkew) while any tone really heard measures near -10.
func silent(t *testing.T, what string, level float64) {
	t.Helper()
	if level > -40 {
		t.Errorf("%s at %.1f dBm0, want silence", what, level)
	}
}

// Three phones registered at once, each with its own tone, ports, control
// port and directory; a call between two of them carries each tone one
// way; hold (re-INVITE a=sendonly) silences both directions and resume
// restores them, on a timeline read with Heard.
func TestThreePhonesHoldAndResume(t *testing.T) {
	t.Parallel()
	tr := startTrio(t)
	for _, u := range []string{"alice", "bob", "carol"} {
		if c, err := tr.k.Contacts(u); err != nil || len(c) != 1 {
			t.Fatalf("%s registered %v (%v)", u, c, err)
		}
	}
	if tr.alice.Addr() == tr.bob.Addr() || tr.bob.Dir() == tr.carol.Dir() {
		t.Fatal("phones share an address or a directory")
	}
	tr.alice.Dial(tr.uri("bob"))
	up := tr.bob.WaitEvent(Established, 5*time.Second)
	tr.alice.WaitEvent(Established, 5*time.Second)

	from, to := up.Time.Add(300*time.Millisecond), up.Time.Add(1300*time.Millisecond)
	a, b, c := tones(t, "alice", tr.alice, from, to)
	hears(t, "alice hearing bob", b)
	silent(t, "alice hearing herself", a)
	silent(t, "alice hearing carol", c)
	a, b, _ = tones(t, "bob", tr.bob, from, to)
	hears(t, "bob hearing alice", a)
	silent(t, "bob hearing himself", b)
	if d := tr.bob.AudioDir(); d != "sendrecv" {
		t.Errorf("bob's audio %s before hold", d)
	}

	held := time.Now()
	tr.alice.Hold()
	if ev := tr.bob.WaitEventAfter(RemoteSDP, held, 2*time.Second); ev.Param != "offer" || ev.CallID != up.CallID {
		t.Errorf("bob saw %v for the hold re-INVITE", ev)
	}
	if d := tr.bob.AudioDir(); d != "recvonly" {
		t.Errorf("bob (held) has audio %s, want recvonly", d)
	}
	if d := tr.alice.AudioDir(); d != "sendonly" {
		t.Errorf("alice (holding) has audio %s, want sendonly", d)
	}
	from, to = held.Add(300*time.Millisecond), held.Add(1300*time.Millisecond)
	_, b, _ = tones(t, "alice", tr.alice, from, to)
	silent(t, "alice hearing bob on hold", b)
	a, _, _ = tones(t, "bob", tr.bob, from, to)
	silent(t, "bob hearing alice on hold", a)
	if n, m := tr.alice.HeardPackets(from, to), tr.bob.HeardPackets(from, to); n != 0 || m != 0 {
		t.Errorf("RTP packets during hold: %d to alice, %d to bob; want none either way", n, m)
	}

	resumed := time.Now()
	tr.alice.Resume()
	tr.bob.WaitEventAfter(RemoteSDP, resumed, 2*time.Second)
	if d := tr.bob.AudioDir(); d != "sendrecv" {
		t.Errorf("bob's audio %s after resume", d)
	}
	from, to = resumed.Add(300*time.Millisecond), resumed.Add(1300*time.Millisecond)
	_, b, _ = tones(t, "alice", tr.alice, from, to)
	hears(t, "alice hearing bob after resume", b)
	a, _, _ = tones(t, "bob", tr.bob, from, to)
	hears(t, "bob hearing alice after resume", a)
	if n := tr.bob.HeardPackets(from, to); n < 45 || n > 55 {
		t.Errorf("bob got %d packets in 1 s after resume, want 50", n)
	}

	// The window edges: the hold starts within ~50 ms of the command (a
	// loaded machine can take longer).
	edge := tr.bob.Heard(held.Add(-500*time.Millisecond), held.Add(500*time.Millisecond))
	before, after := BlockLevel(edge[:3200], aliceHz), BlockLevel(edge[4800:], aliceHz)
	t.Logf("bob around the hold: %.1f dBm0 before, %.1f after", before, after)
	hears(t, "bob hearing alice just before the hold", before)
	silent(t, "bob hearing alice just after the hold", after)

	tr.alice.Hangup()
	tr.bob.WaitEvent(Closed, 5*time.Second)
	// The whole call as received (gaps dropped), like a recording.
	if x := tr.bob.CallHeard(up.CallID); len(x) < 8000*2 {
		t.Errorf("bob's call recording has %d samples, want over 2 s", len(x))
	}
}
