package baresiptest

import (
	"encoding/binary"
	"math"
	"sort"
	"time"

	"github.com/openata/ata/board/pcm"
)

// HeardLag is how long after the end of a window Heard waits before it
// reads the window: a 20 ms packet arrives about when its last sample is
// due, and the capture stamps it within a millisecond on loopback.
const HeardLag = 100 * time.Millisecond

// Heard is what the phone heard in [from, to): the audio of every call it
// had, received as RTP, placed at the wall-clock time it arrived (within
// a packet by RTP timestamp, so without arrival jitter) and mixed, 8 kHz
// mono; time without packets (hold, no call) is silence. Placement is
// accurate to a few milliseconds. Heard first sleeps until to+HeardLag.
// Use Event.Time as the reference: bob.Heard(up.Time.Add(time.Second),
// up.Time.Add(2*time.Second)).
func (p *Phone) Heard(from, to time.Time) []int16 {
	p.t.Helper()
	if !to.After(from) {
		p.t.Fatalf("baresiptest: Heard(%v, %v): empty window", from, to)
	}
	p.needTap("Heard")
	if d := time.Until(to.Add(HeardLag)); d > 0 {
		time.Sleep(d)
	}
	n := int(to.Sub(from) * sampleRate / time.Second)
	out := make([]int16, n)
	for _, r := range p.tap.all() {
		mix(out, from, place(r.packets()))
	}
	return out
}

// HeardLevel is the level in dBm0 of the freq Hz component of what the
// phone heard in [from, to) (Heard, then BlockLevel): -Inf for silence.
// A tone at L dBm0 filling the window measures L within a few tenths of a
// dB (G.711); one filling a fraction f of it measures about
// L + 10·log10(f). Other tones 100 Hz or more away do not leak into it
// (below -80 dB).
func (p *Phone) HeardLevel(freq float64, from, to time.Time) float64 {
	p.t.Helper()
	return BlockLevel(p.Heard(from, to), freq)
}

// levelBlock is BlockLevel's block: 50 ms, 20 Hz resolution.
const levelBlock = 400

// BlockLevel is the level in dBm0 of the freq Hz component of x (8 kHz):
// the power average of Hann-windowed Goertzel measurements over 50 ms
// blocks (one block when x is shorter). Unlike pcm.ToneLevel over all of
// x, it does not drop when the tone's phase jumps (packets lost or
// re-timed, a transfer joining two streams), and its window keeps tones
// 100 Hz away out of the bin.
func BlockLevel(x []int16, freq float64) float64 {
	if len(x) == 0 {
		return math.Inf(-1)
	}
	n := min(levelBlock, len(x))
	w := make([]float64, n)
	var wsum float64
	for i := range w {
		w[i] = 0.5 - 0.5*math.Cos(2*math.Pi*(float64(i)+0.5)/float64(n))
		wsum += w[i]
	}
	c := 2 * math.Cos(2*math.Pi*freq/sampleRate)
	var power float64
	blocks := 0
	for off := 0; off+n <= len(x); off += n {
		var s1, s2 float64
		for i, v := range x[off : off+n] {
			s1, s2 = float64(v)*w[i]+c*s1-s2, s1
		}
		amp := math.Sqrt(max(s1*s1+s2*s2-c*s1*s2, 0)) * 2 / wsum
		power += amp * amp
		blocks++
	}
	return pcm.Level(math.Sqrt(power / float64(blocks)))
}

// HeardPackets counts the audio RTP packets (PCMU, PCMA) the phone
// received in [from, to), after waiting like Heard: it tells "the far end
// sent nothing" (0) from "it sent silence".
func (p *Phone) HeardPackets(from, to time.Time) int {
	p.t.Helper()
	p.needTap("HeardPackets")
	if d := time.Until(to.Add(HeardLag)); d > 0 {
		time.Sleep(d)
	}
	n := 0
	for _, r := range p.tap.all() {
		for _, pk := range r.packets() {
			if (pk.pt == 0 || pk.pt == 8) && !pk.at.Before(from) && pk.at.Before(to) {
				n++
			}
		}
	}
	return n
}

// TelephoneEvent is one RFC 4733 packet the phone received.
type TelephoneEvent struct {
	At       time.Time
	Key      byte // '0'-'9', '*', '#', 'A'-'D'; 0 for other events
	End      bool
	Duration int    // in timestamp units (8 kHz)
	TS       uint32 // RTP timestamp: one per key press
}

// HeardTelephoneEvents lists the RFC 4733 packets received so far (every
// packet, retransmitted ends included), in arrival order. Any payload type
// other than PCMU, PCMA and CN whose payload is a 4-byte event counts.
func (p *Phone) HeardTelephoneEvents() []TelephoneEvent {
	p.t.Helper()
	p.needTap("HeardTelephoneEvents")
	var out []TelephoneEvent
	for _, r := range p.tap.all() {
		for _, pk := range r.packets() {
			if pk.pt == 0 || pk.pt == 8 || pk.pt == 13 || len(pk.payload) != 4 {
				continue
			}
			ev := TelephoneEvent{At: pk.at, End: pk.payload[1]&0x80 != 0,
				Duration: int(binary.BigEndian.Uint16(pk.payload[2:])), TS: pk.ts}
			if e := int(pk.payload[0]); e < len(eventKeys) {
				ev.Key = eventKeys[e]
			}
			out = append(out, ev)
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].At.Before(out[j].At) })
	return out
}

// eventKeys are RFC 4733's DTMF events 0-15.
const eventKeys = "0123456789*#ABCD"

// callSinks maps call IDs to the capture of their RTP socket. baresip
// opens a call's RTP and RTCP sockets (RTCP on RTP+1), and so its STUN
// bindings, when it creates the call; the harness first sees the call's
// ID in its first event. Calls and RTP sockets are matched in that order,
// which holds unless two calls are created within a few milliseconds.
func (p *Phone) callSinks() map[string]*sink {
	sinks := p.tap.all()
	var rtp []*sink
	for _, r := range sinks {
		rtcp := false
		for _, o := range sinks {
			if o != r && o.target.Port()+1 == r.target.Port() && !o.created.After(r.created) {
				rtcp = true
			}
		}
		if !rtcp {
			rtp = append(rtp, r)
		}
	}
	p.mu.Lock()
	ids := make([]string, 0, len(p.firstSeen))
	for id := range p.firstSeen {
		ids = append(ids, id)
	}
	sort.Slice(ids, func(i, j int) bool { return p.firstSeen[ids[i]].Before(p.firstSeen[ids[j]]) })
	p.mu.Unlock()
	m := map[string]*sink{}
	for i, id := range ids {
		if i < len(rtp) {
			m[id] = rtp[i]
		}
	}
	return m
}

// CallHeard is the audio the phone received in one call (by Event.CallID),
// packets joined without the gaps between them, like a sndfile recording
// that survives hold. Nil when the call received no audio.
func (p *Phone) CallHeard(callID string) []int16 {
	p.t.Helper()
	p.needTap("CallHeard")
	r := p.callSinks()[callID]
	if r == nil {
		return nil
	}
	return concat(place(r.packets()))
}

// RecordedAudio is what the phone received in its latest call (the call
// whose ID appeared last in an event): CallHeard of that call. Wait for
// the call's Closed event (or long enough) before reading it. Without
// packet capture, or with MediaEnc (SRTP), it is sndfile's recording of
// the latest call, which ends at the call's first hold, complete once the
// call has closed.
func (p *Phone) RecordedAudio() []int16 {
	p.t.Helper()
	if p.tap == nil || p.opts.MediaEnc != "" { // no capture, or only SRTP in it
		return p.recording("dec")
	}
	p.mu.Lock()
	var last string
	var at time.Time
	for id, t := range p.firstSeen {
		if last == "" || t.After(at) {
			last, at = id, t
		}
	}
	p.mu.Unlock()
	if last == "" {
		p.t.Fatalf("baresiptest: %s has had no call", p.aor)
	}
	x := p.CallHeard(last)
	if len(x) == 0 {
		p.t.Fatalf("baresiptest: %s received no audio in call %s", p.aor, last)
	}
	return x
}

// needTap fails the test when the phone runs without packet capture, or
// with SRTP (the capture holds only ciphertext).
func (p *Phone) needTap(what string) {
	p.t.Helper()
	if p.opts.MediaEnc != "" {
		p.t.Fatalf("baresiptest: %s decodes the captured RTP, which mediaenc %s encrypts: use RecordedAudio", what, p.opts.MediaEnc)
	}
	if p.tap == nil {
		p.t.Fatalf("baresiptest: %s needs packet capture on lo: %v (run the tests as root or give the test binary CAP_NET_RAW)", what, p.tapErr)
	}
}
