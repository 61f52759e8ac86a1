package fxs

import (
	"time"

	"github.com/openata/ata/board"
	"github.com/openata/ata/board/pcm"
	"github.com/openata/ata/fxs/dtmf"
)

// Received DTMF (keys the far end sent as RFC 4733 events or SIP INFO),
// played to the handset.
const (
	// PlayDTMFLevel is the level of each of the key's two tones, dBm0.
	PlayDTMFLevel = -10.0
	// PlayDTMFMin and PlayDTMFMax bound a key's duration: a Q.24 receiver
	// needs 40 ms, and a key held longer than 2 s is cut there.
	PlayDTMFMin = 40 * time.Millisecond
	PlayDTMFMax = 2 * time.Second
	// PlayDTMFGap is the silence after each key, so that keys queued back
	// to back (or arriving just after one another) stay separate digits.
	PlayDTMFGap = 50 * time.Millisecond
	// playDTMFQueue bounds the keys waiting to be played.
	playDTMFQueue = 32
)

// rxQueue is a ring of keys waiting to play, guarded by Port.mu.
type rxQueue struct {
	keys       [playDTMFQueue]rxKey
	head, size int
}

type rxKey struct {
	key     byte
	samples int
}

// rxPlayer plays received keys in the frame goroutine.
type rxPlayer struct {
	gen  dtmf.Generator
	left int // samples of the current key still to play
	gap  int // samples of silence still to play after it
}

// PlayDTMF plays a key (0-9 * # A-D, a-d accepted) to the handset for d
// (clamped to PlayDTMFMin..PlayDTMFMax), at PlayDTMFLevel per tone, in
// place of the call's audio; the call's audio comes back after the key
// and PlayDTMFGap of silence. Keys queue and play one after another, each
// followed by that gap; a call-waiting caller-ID sequence holds them back
// until it ends, and hanging up drops them. At most 32 keys wait; more are
// dropped (and logged). Safe to call from any goroutine.
func (p *Port) PlayDTMF(key byte, d time.Duration) {
	if _, _, ok := pcm.DTMFFrequencies(key); !ok {
		p.log.Warn("fxs: play DTMF: not a DTMF key", "key", string(rune(key)))
		return
	}
	d = min(max(d, PlayDTMFMin), PlayDTMFMax)
	p.mu.Lock()
	q := &p.rxQ
	full := q.size == len(q.keys)
	if !full {
		q.keys[(q.head+q.size)%len(q.keys)] = rxKey{key: key, samples: samplesOf(d)}
		q.size++
		p.rxCount.Add(1)
	}
	p.mu.Unlock()
	if full {
		p.log.Warn("fxs: play DTMF: queue full, key dropped", "key", string(rune(key)))
	}
}

func samplesOf(d time.Duration) int { return int(d * board.SampleRate / time.Second) }

func samplesDur(n int) time.Duration { return time.Duration(n) * time.Second / board.SampleRate }

// nextDTMF takes the next queued key, if any.
func (p *Port) nextDTMF() (rxKey, bool) {
	if p.rxCount.Load() == 0 {
		return rxKey{}, false
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	q := &p.rxQ
	if q.size == 0 {
		return rxKey{}, false
	}
	k := q.keys[q.head]
	q.head = (q.head + 1) % len(q.keys)
	q.size--
	p.rxCount.Add(-1)
	return k, true
}

// stopDTMF ends the key playing and drops the queued ones (hang-up).
func (p *Port) stopDTMF() {
	p.rx.gen.Stop()
	p.rx.left, p.rx.gap = 0, 0
	p.mu.Lock()
	p.rxQ.head, p.rxQ.size = 0, 0
	p.rxCount.Store(0)
	p.mu.Unlock()
}

// fillDTMF overwrites ear with received keys and their gaps, sample-exact:
// a key that ends inside the frame hands over to its gap, and a gap to
// the next queued key. Samples after the last gap keep the call's audio.
func (p *Port) fillDTMF(ear []int16) {
	rx := &p.rx
	for i := 0; i < len(ear); {
		switch {
		case rx.left > 0:
			n := min(rx.left, len(ear)-i)
			rx.gen.Fill(ear[i : i+n])
			rx.left -= n
			i += n
			if rx.left == 0 {
				rx.gen.Stop()
				rx.gap = samplesOf(PlayDTMFGap)
			}
		case rx.gap > 0:
			n := min(rx.gap, len(ear)-i)
			clear(ear[i : i+n])
			rx.gap -= n
			i += n
		default:
			k, ok := p.nextDTMF()
			if !ok {
				return
			}
			_ = rx.gen.Start(k.key, PlayDTMFLevel, 0) // PlayDTMF checked the key
			rx.left = k.samples
		}
	}
}
