// Package capture records the ATA's SIP and RTP traffic into a bounded,
// in-memory pcap file (link type LINUX_SLL) without libpcap: a Linux
// AF_PACKET socket receives cooked packets from every interface and a
// user-space filter keeps UDP datagrams on the ATA's SIP port or on the RTP
// and RTCP ports its calls hold now (SetMediaPorts, as calls come and go).
package capture

import (
	"fmt"
	"io"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// DefaultLimit is the pcap size at which a capture stops by itself when
// Options.Limit is zero.
const DefaultLimit = 10 << 20

// DefaultSIPPort is used when Options.SIPPort is zero.
const DefaultSIPPort = 5060

// Linux packet metadata (linux/if_packet.h, linux/if_arp.h).
const (
	packetOutgoing = 4   // PACKET_OUTGOING
	arphrdLoopback = 772 // ARPHRD_LOOPBACK
)

// Options say what to keep and how much.
type Options struct {
	SIPPort int // UDP port of the ATA's SIP socket; 0: DefaultSIPPort
	// MediaPorts are the local RTP and RTCP ports of the calls up when the
	// capture starts; SetMediaPorts follows the calls after that.
	MediaPorts []uint16
	Limit      int64            // pcap size in bytes at which the capture stops; 0: DefaultLimit
	Clock      func() time.Time // packet timestamps; nil: time.Now
}

// Status is a snapshot of a capture.
type Status struct {
	Running bool
	Bytes   int64 // size of the pcap file so far, headers included
	Limit   int64
	Packets int
	Started time.Time
	Err     string // why the capture failed, empty if it did not
}

// Capture is a running or finished packet capture. Its methods are safe
// for concurrent use.
type Capture struct {
	filter  portFilter // SIP and the calls' media ports; its media set changes under the running capture
	clock   func() time.Time
	limit   int64
	started time.Time

	src      *packetSocket // nil in unit tests that feed handle directly
	stopping atomic.Bool   // set before src is closed, so the read error that follows is expected
	stopOnce sync.Once
	done     chan struct{}

	mu      sync.Mutex
	buf     []byte // the pcap file; only ever appended to
	packets int
	running bool
	err     error
}

// Start opens the packet socket and captures in a goroutine until Stop is
// called or the pcap reaches opts.Limit.
func Start(opts Options) (*Capture, error) {
	c, err := newCapture(opts)
	if err != nil {
		return nil, err
	}
	src, err := openPacketSocket()
	if err != nil {
		return nil, err
	}
	c.src = src
	c.running = true
	go c.run()
	return c, nil
}

func newCapture(opts Options) (*Capture, error) {
	if opts.SIPPort == 0 {
		opts.SIPPort = DefaultSIPPort
	}
	if opts.SIPPort < 1 || opts.SIPPort > 65535 {
		return nil, fmt.Errorf("capture: SIP port %d out of 1..65535", opts.SIPPort)
	}
	if slices.Contains(opts.MediaPorts, 0) {
		return nil, fmt.Errorf("capture: media port 0")
	}
	if opts.Limit == 0 {
		opts.Limit = DefaultLimit
	}
	if opts.Limit < fileHeaderLen {
		return nil, fmt.Errorf("capture: limit %d bytes is smaller than the pcap header", opts.Limit)
	}
	if opts.Clock == nil {
		opts.Clock = time.Now
	}
	c := &Capture{
		clock:   opts.Clock,
		limit:   opts.Limit,
		started: opts.Clock(),
		done:    make(chan struct{}),
	}
	c.filter.sip = uint16(opts.SIPPort)
	c.filter.setMedia(opts.MediaPorts)
	c.buf = appendFileHeader(make([]byte, 0, min(opts.Limit, 64<<10)))
	return c, nil
}

// SetMediaPorts replaces the RTP and RTCP ports kept besides SIP: those of
// the calls up now. Safe while the capture runs; packets already filtered
// stay as they were.
func (c *Capture) SetMediaPorts(ports []uint16) { c.filter.setMedia(ports) }

func (c *Capture) run() {
	defer close(c.done)
	buf := make([]byte, snapLen)
	var h sllHeader
	for {
		n, err := c.src.recv(buf, &h)
		if err != nil {
			if !c.stopping.Load() {
				c.mu.Lock()
				c.err = err
				c.mu.Unlock()
				c.closeSource()
			}
			break
		}
		if !c.handle(&h, buf[:min(n, len(buf))], n) {
			c.closeSource()
			break
		}
	}
	c.mu.Lock()
	c.running = false
	c.mu.Unlock()
}

// handle filters and records one received packet: pkt is what was read of
// it, origLen its real length. It returns false once the limit is reached.
// It allocates nothing unless the pcap buffer has to grow.
func (c *Capture) handle(h *sllHeader, pkt []byte, origLen int) bool {
	if h.hwType == arphrdLoopback && h.pktType == packetOutgoing {
		return true // loopback shows every packet twice; keep the incoming copy
	}
	if !c.filter.keep(h.etherType, pkt) {
		return true
	}
	ts := c.clock()
	c.mu.Lock()
	defer c.mu.Unlock()
	if int64(len(c.buf)+recordHeaderLen+sllHeaderLen+len(pkt)) > c.limit {
		c.running = false
		return false
	}
	c.buf = appendRecord(c.buf, ts, h, pkt, origLen)
	c.packets++
	return true
}

func (c *Capture) closeSource() {
	c.stopOnce.Do(func() {
		c.stopping.Store(true)
		if err := c.src.close(); err != nil {
			c.mu.Lock()
			if c.err == nil {
				c.err = fmt.Errorf("capture: close packet socket: %w", err)
			}
			c.mu.Unlock()
		}
	})
}

// Stop ends the capture and waits for its goroutine. It returns the error
// that ended the capture early, if any. Calling it again is harmless; the
// pcap stays readable with WriteTo.
func (c *Capture) Stop() error {
	c.closeSource()
	<-c.done
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

// Status returns a snapshot of the capture.
func (c *Capture) Status() Status {
	c.mu.Lock()
	defer c.mu.Unlock()
	s := Status{
		Running: c.running,
		Bytes:   int64(len(c.buf)),
		Limit:   c.limit,
		Packets: c.packets,
		Started: c.started,
	}
	if c.err != nil {
		s.Err = c.err.Error()
	}
	return s
}

// WriteTo writes the pcap file captured so far to w. The capture goes on
// while w is written: records are only appended, so the bytes taken under
// the lock never change afterwards.
func (c *Capture) WriteTo(w io.Writer) (int64, error) {
	c.mu.Lock()
	snapshot := c.buf[:len(c.buf):len(c.buf)]
	c.mu.Unlock()
	n, err := w.Write(snapshot)
	if err != nil {
		return int64(n), fmt.Errorf("capture: write pcap: %w", err)
	}
	return int64(n), nil
}
