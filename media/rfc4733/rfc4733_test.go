package rfc4733

import (
	"bytes"
	"testing"
	"time"
)

func TestEventWireFormat(t *testing.T) {
	// Key 1, end, volume 10, 800 samples (100 ms): RFC 4733 §2.3 layout.
	ev := Event{Code: 1, End: true, Volume: 10, Duration: 800}
	var b [4]byte
	if n, err := ev.MarshalTo(b[:]); err != nil || n != 4 {
		t.Fatalf("MarshalTo: %d, %v", n, err)
	}
	if want := []byte{0x01, 0x8A, 0x03, 0x20}; !bytes.Equal(b[:], want) {
		t.Fatalf("wire % x, want % x", b, want)
	}
	var got Event
	if err := got.Unmarshal(b[:]); err != nil || got != ev {
		t.Fatalf("Unmarshal = %+v, %v; want %+v", got, err, ev)
	}
	if err := got.Unmarshal(b[:3]); err == nil {
		t.Error("3-byte payload accepted")
	}
	if _, err := (Event{Volume: 64}).MarshalTo(b[:]); err == nil {
		t.Error("volume 64 accepted")
	}
	if _, err := ev.MarshalTo(b[:2]); err == nil {
		t.Error("short buffer accepted")
	}
}

func TestKeyCodes(t *testing.T) {
	for code := uint8(0); code <= MaxEvent; code++ {
		key, ok := CodeKey(code)
		if !ok {
			t.Fatalf("code %d has no key", code)
		}
		back, err := KeyCode(key)
		if err != nil || back != code {
			t.Fatalf("key %q → %d, %v; want %d", key, back, err, code)
		}
	}
	if c, _ := KeyCode('#'); c != 11 {
		t.Errorf("'#' = %d, want 11", c)
	}
	if c, _ := KeyCode('d'); c != 15 {
		t.Errorf("'d' = %d, want 15", c)
	}
	if _, err := KeyCode('x'); err == nil {
		t.Error("'x' accepted")
	}
	if _, ok := CodeKey(17); ok {
		t.Error("code 17 has a key")
	}
}

// run drives a sender frame by frame and returns the packets it emits.
func run(t *testing.T, s *Sender, frame int) []Packet {
	t.Helper()
	var out []Packet
	for i := 0; s.Active(); i++ {
		if i > 1000 {
			t.Fatal("sender never finishes")
		}
		if p, ok := s.Next(frame); ok {
			out = append(out, p)
		}
	}
	return out
}

func TestSenderSequence20ms(t *testing.T) {
	var s Sender
	if err := s.Start('5', 800, 12345); err != nil {
		t.Fatal(err)
	}
	if err := s.Start('6', 800, 1); err == nil {
		t.Error("second Start while active accepted")
	}
	got := run(t, &s, 160)
	// start (marker, 20 ms), update 40 ms later, end ×3 at 100 ms.
	want := []struct {
		marker, end bool
		dur         uint16
	}{{true, false, 160}, {false, false, 480}, {false, true, 800}, {false, true, 800}, {false, true, 800}}
	if len(got) != len(want) {
		t.Fatalf("%d packets, want %d: %+v", len(got), len(want), got)
	}
	for i, w := range want {
		p := got[i]
		if p.Marker != w.marker || p.Event.End != w.end || p.Event.Duration != w.dur ||
			p.Timestamp != 12345 || p.Event.Code != 5 || p.Event.Volume != 10 {
			t.Errorf("packet %d = %+v, want marker=%v end=%v dur=%d ts=12345 code=5", i, p, w.marker, w.end, w.dur)
		}
	}
}

func TestSenderUpdateEvery50msWith10msFrames(t *testing.T) {
	var s Sender
	if err := s.Start('#', 1600, 0); err != nil {
		t.Fatal(err)
	}
	got := run(t, &s, 80)
	var durs []uint16
	for _, p := range got {
		if !p.Event.End {
			durs = append(durs, p.Event.Duration)
		}
	}
	want := []uint16{80, 480, 880, 1280}
	if len(durs) != len(want) {
		t.Fatalf("update durations %v, want %v", durs, want)
	}
	for i := range want {
		if durs[i] != want[i] {
			t.Fatalf("update durations %v, want %v", durs, want)
		}
	}
}

type recorder struct{ events []KeyEvent }

func (r *recorder) report(e KeyEvent) { r.events = append(r.events, e) }

func feed(r *Receiver, pkts []Packet, at time.Duration) time.Duration {
	var b [4]byte
	for _, p := range pkts {
		p.Event.MarshalTo(b[:])
		r.Receive(at, p.Timestamp, b[:])
		at += 20 * time.Millisecond
	}
	return at
}

func TestRoundTripWithRedundancyAndLoss(t *testing.T) {
	var s Sender
	s.Start('7', 800, 1000)
	pkts := run(t, &s, 160)

	cases := []struct {
		name string
		drop func(i int, p Packet) bool
	}{
		{"all delivered", func(int, Packet) bool { return false }},
		{"start lost", func(_ int, p Packet) bool { return p.Marker }},
		{"two of three ends lost", func(i int, p Packet) bool { return p.Event.End && i < len(pkts)-1 }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var rec recorder
			r := NewReceiver(rec.report)
			var kept []Packet
			for i, p := range pkts {
				if !tc.drop(i, p) {
					kept = append(kept, p)
				}
			}
			// Duplicate everything too: redundancy must not double-report.
			var dup []Packet
			for _, p := range kept {
				dup = append(dup, p, p)
			}
			feed(r, dup, 0)
			if len(rec.events) != 2 || !rec.events[0].Down || rec.events[1].Down ||
				rec.events[0].Key != '7' || rec.events[1].Key != '7' {
				t.Fatalf("events %+v, want one down and one up of '7'", rec.events)
			}
			if rec.events[1].Duration != 100*time.Millisecond {
				t.Errorf("up duration %v, want 100ms", rec.events[1].Duration)
			}
		})
	}
}

func TestAllEndsLostTimesOut(t *testing.T) {
	var s Sender
	s.Start('9', 800, 0)
	var rec recorder
	r := NewReceiver(rec.report)
	var noEnd []Packet
	for _, p := range run(t, &s, 160) {
		if !p.Event.End {
			noEnd = append(noEnd, p)
		}
	}
	at := feed(r, noEnd, 0)
	r.Expire(at)
	if len(rec.events) != 1 {
		t.Fatalf("up reported before the timeout: %+v", rec.events)
	}
	r.Expire(at + DefaultTimeout + time.Millisecond)
	if len(rec.events) != 2 || rec.events[1].Down || rec.events[1].Key != '9' {
		t.Fatalf("events %+v, want down then up", rec.events)
	}
	// A late update of the expired event must not press the key again.
	feed(r, noEnd[len(noEnd)-1:], at+time.Second)
	if len(rec.events) != 2 {
		t.Fatalf("late packet re-pressed the key: %+v", rec.events)
	}
}

func TestNextEventWhileEndLost(t *testing.T) {
	var rec recorder
	r := NewReceiver(rec.report)
	var s Sender
	s.Start('1', 320, 0)
	first := run(t, &s, 160)
	s.Start('2', 320, 800)
	second := run(t, &s, 160)
	feed(r, first[:1], 0) // only the start of '1' arrives
	feed(r, second, 100*time.Millisecond)
	keys := ""
	for _, e := range rec.events {
		if e.Down {
			keys += "v" + string(e.Key)
		} else {
			keys += "^" + string(e.Key)
		}
	}
	if keys != "v1^1v2^2" {
		t.Fatalf("events %s, want v1^1v2^2", keys)
	}
}

func TestReceiveNoAllocs(t *testing.T) {
	r := NewReceiver(func(KeyEvent) {})
	payload := []byte{3, 10, 0, 160}
	ts := uint32(0)
	allocs := testing.AllocsPerRun(200, func() {
		ts += 800
		payload[1] = 10
		r.Receive(0, ts, payload)
		payload[1] = 0x8A
		r.Receive(0, ts, payload)
	})
	if allocs != 0 {
		t.Fatalf("%v allocs per event", allocs)
	}
}
