package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/openata/ata/board/pcm"
	"github.com/openata/ata/internal/baresiptest"
	"github.com/openata/ata/internal/kamailiotest"
	"github.com/openata/ata/media/codec"
)

// SRTP (issue 13 item 3) end to end: calls with baresip far ends whose
// accounts use SRTP (its srtp module, mediaenc=srtp-mand), both ways,
// audio both ways measured by tone, and tshark on lo showing that the RTP
// on the wire does not decode to the tone as G.711; a mandatory line
// refuses a plain offer with 488; an optional line falls back to plain RTP
// against a plain baresip (and there the same tshark check does hear the
// tone: the check can tell).

// srtpRig is the firmware on Kamailio with a narrow rtp_ports range (the
// capture's filter), a data directory the test reads, and a capture of
// the range on lo running.
type srtpRig struct {
	t           *testing.T
	kam         *kamailiotest.Server
	f           *firmware
	data        string
	first, last int
	pcap        string
	dump        *exec.Cmd
}

func startSRTPRig(t *testing.T, srtpMode string, users map[string]string, farEnd string) *srtpRig {
	t.Helper()
	return startSRTPRigOn(t, fmt.Sprintf("srtp = %q\n", srtpMode), false, users, farEnd)
}

// startSRTPRigOn is startSRTPRig with the line's own keys (lineExtra) and,
// with tls, the line on Kamailio's TLS listener (its CA in tls_ca_file).
func startSRTPRigOn(t *testing.T, lineExtra string, tls bool, users map[string]string, farEnd string) *srtpRig {
	t.Helper()
	r := &srtpRig{t: t, data: t.TempDir()}
	r.first, r.last = narrowRTPPorts()
	if users == nil {
		users = map[string]string{}
	}
	users["1001"] = "secret"
	r.kam = kamailiotest.Start(t, kamailiotest.Config{Users: users, FarEnd: farEnd, TLS: tls})
	r.capture()
	if tls {
		lineExtra += fmt.Sprintf("registrar = \"127.0.0.1:%d;transport=tls\"\n", r.kam.TLSAddr().Port())
	}
	cfg := lineConfig(r.kam, lineExtra)
	if tls {
		cfg = strings.Replace(cfg, "[sip]\n", fmt.Sprintf("[sip]\ntls_ca_file = %q\n", r.kam.CA().CAFile()), 1)
	}
	cfg = strings.Replace(cfg, "DATA_DIR", r.data, 1)
	cfg = strings.Replace(cfg, "[sip]\n", fmt.Sprintf("[sip]\nrtp_ports = \"%d-%d\"\n", r.first, r.last), 1)
	r.f = startFirmware(t, cfg)
	waitRegistered(t, r.kam, "1001")
	return r
}

// capture starts dumpcap on lo for the SIP port of Kamailio and the
// firmware's RTP range.
func (r *srtpRig) capture() {
	t := r.t
	t.Helper()
	r.pcap = filepath.Join(t.TempDir(), "lo.pcapng")
	filter := fmt.Sprintf("udp and (port %d or portrange %d-%d)", r.kam.Addr().Port(), r.first, r.last)
	r.dump = exec.Command("dumpcap", "-q", "-i", "lo", "-f", filter, "-w", r.pcap)
	var dumpErr bytes.Buffer
	r.dump.Stderr = &dumpErr
	if err := r.dump.Start(); err != nil {
		t.Fatalf("dumpcap (apt-get install tshark): %v", err)
	}
	t.Cleanup(r.stopCapture)
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if fi, err := os.Stat(r.pcap); err == nil && fi.Size() > 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("dumpcap did not start: %s", dumpErr.String())
		}
	}
}

func (r *srtpRig) stopCapture() {
	if r.dump != nil && r.dump.ProcessState == nil {
		r.dump.Process.Signal(syscall.SIGINT)
		r.dump.Wait()
	}
}

// tshark runs tshark on the capture with args and returns its output.
func (r *srtpRig) tshark(args ...string) string {
	r.t.Helper()
	r.stopCapture()
	out, err := exec.Command("tshark", append([]string{"-r", r.pcap}, args...)...).Output()
	if err != nil {
		r.t.Fatalf("tshark %v: %v", args, err)
	}
	return string(out)
}

// wireTone is what tshark finds in the RTP the firmware sent (from its
// rtp_ports range, RTP found by tshark's heuristic or from the SDP): the
// packets, and how many of them decode as G.711 (PCMU), the way a listener
// on the path would decode them, to the hz tone: the tone within 6 dB of
// the packet's whole power (a tone packet is at 0 dB; noise, such as
// ciphertext decoded, at about -19 dB).
func (r *srtpRig) wireTone(hz float64) (packets, tone int) {
	r.t.Helper()
	out := r.tshark("--enable-heuristic", "rtp_udp", "-Y",
		fmt.Sprintf("rtp && udp.srcport >= %d && udp.srcport <= %d && rtp.p_type == 0", r.first, r.last),
		"-T", "fields", "-e", "rtp.payload", "-e", "srtp.enc_payload")
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		// One of the two: tshark shows a packet of a stream whose SDP had
		// keys as SRTP (its payload is srtp.enc_payload), else as RTP.
		b, err := hex.DecodeString(strings.ReplaceAll(strings.TrimSpace(sc.Text()), ":", ""))
		if err != nil || len(b) < 140 {
			continue
		}
		// 160 bytes of G.711 per packet; plain RTP that tshark takes for
		// SRTP (its SDP had keys) shows 150, the last 10 as a tag.
		b = b[:min(len(b), 160)]
		x := make([]int16, len(b))
		codec.PCMU.Decode(x, b)
		var sum float64
		for _, v := range x {
			sum += float64(v) * float64(v)
		}
		if rms := math.Sqrt(sum / float64(len(x))); rms > 0 && level(x, hz) > pcm.RMSLevel(rms)-6 {
			tone++
		}
		packets++
	}
	if packets < 50 {
		r.t.Fatalf("tshark found %d RTP packets from the firmware's ports %d-%d:\n%s", packets, r.first, r.last, out)
	}
	return packets, tone
}

// sdpKeys are the inline keys of every a=crypto tshark saw in the SIP.
func (r *srtpRig) sdpKeys() []string {
	r.t.Helper()
	out := r.tshark("-Y", "sdp", "-T", "fields", "-e", "sdp.media_attr")
	return regexp.MustCompile(`inline:([A-Za-z0-9+/=]+)`).FindAllString(out, -1)
}

// lastCall is the newest call log entry's number and SRTP mark.
func (r *srtpRig) lastCall() (number string, srtp bool) {
	r.t.Helper()
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		b, _ := os.ReadFile(filepath.Join(r.data, "calls.jsonl"))
		lines := strings.Split(strings.TrimSpace(string(b)), "\n")
		if last := lines[len(lines)-1]; last != "" {
			var e struct {
				Number string `json:"number"`
				SRTP   *bool  `json:"srtp"`
			}
			if err := json.Unmarshal([]byte(last), &e); err != nil {
				r.t.Fatalf("call log line %q: %v", last, err)
			}
			if e.SRTP == nil {
				r.t.Fatalf("call log entry without \"srtp\": %s", last)
			}
			return e.Number, *e.SRTP
		}
		if time.Now().After(deadline) {
			r.t.Fatal("no call in the call log")
		}
	}
}

// talk checks audio both ways in an established call: the far end's
// 1300 Hz in the earpiece, then our 700 Hz played for 2 s; the far end's
// recording is checked after the hang-up (checkFarHeard).
func (r *srtpRig) talk() {
	r.t.Helper()
	r.f.waitLog(r.t, "to=talking", 5*time.Second)
	r.f.speak(r.t, 700, 3*time.Second)
	time.Sleep(500 * time.Millisecond) // the jitter buffer fills
	ear, err := r.f.phone.Listen(context.Background(), time.Second)
	if err != nil {
		r.t.Fatal(err)
	}
	if l := level(ear, 1300); l < -14 {
		r.t.Errorf("far end's 1300 Hz at %.1f dBm0 in the earpiece, want about -10", l)
	}
	time.Sleep(2 * time.Second)
}

func checkFarHeard(t *testing.T, far *baresiptest.Phone) {
	t.Helper()
	if l := baresiptest.ToneLevel(far.RecordedAudio(), 700); l < -16 {
		t.Errorf("our 700 Hz at %.1f dBm0 at the far end, want about -10", l)
	}
}

// checkEncrypted: the firmware's RTP does not decode to our tone, the
// call log marks the call SRTP, and no key of the SDP is in the log.
func (r *srtpRig) checkEncrypted(number string) {
	r.t.Helper()
	n, tone := r.wireTone(700)
	r.t.Logf("tshark: %d RTP packets from the firmware, %d of them our 700 Hz as G.711", n, tone)
	if tone > 2 {
		r.t.Errorf("%d of the firmware's %d RTP packets decode as G.711 to our 700 Hz: not encrypted", tone, n)
	}
	if num, srtp := r.lastCall(); num != number || !srtp {
		r.t.Errorf("call log: %s srtp %v, want %s srtp true", num, srtp, number)
	}
	keys := r.sdpKeys()
	if len(keys) < 2 {
		r.t.Fatalf("tshark saw %d SDP keys, want ours and the far end's", len(keys))
	}
	for _, k := range keys {
		if b64 := strings.TrimPrefix(k, "inline:"); strings.Contains(r.f.log(), b64[:20]) {
			r.t.Errorf("an SRTP key is in the firmware's debug log")
		}
	}
}

func TestSRTPCallToBaresip(t *testing.T) {
	t.Parallel()
	far := baresiptest.Start(t, baresiptest.Opts{User: "2000", Incoming: baresiptest.AutoAnswer, AnswerDelay: 300 * time.Millisecond,
		Audio: baresiptest.Tone(1300, -10, 20*time.Second), MediaEnc: "srtp-mand"})
	r := startSRTPRig(t, "optional", nil, far.Addr().String())
	ctx := context.Background()
	if err := r.f.phone.Hook(ctx, "off"); err != nil {
		t.Fatal(err)
	}
	if err := r.f.phone.Dial(ctx, "2000", "dtmf"); err != nil {
		t.Fatal(err)
	}
	far.WaitEvent(baresiptest.Established, 10*time.Second)
	r.talk()
	if err := r.f.phone.Hook(ctx, "on"); err != nil {
		t.Fatal(err)
	}
	far.WaitEvent(baresiptest.Closed, 5*time.Second)
	checkFarHeard(t, far)
	r.checkEncrypted("2000")
}

func TestSRTPCallFromBaresip(t *testing.T) {
	t.Parallel()
	r := startSRTPRig(t, "mandatory", map[string]string{"3000": "pw3000"}, "")
	caller := baresiptest.Start(t, baresiptest.Opts{User: "3000", Registrar: r.kam.Addr().String(), Password: "pw3000",
		Audio: baresiptest.Tone(1300, -10, 20*time.Second), MediaEnc: "srtp-mand"})
	caller.Dial(fmt.Sprintf("sip:1001@%s", r.kam.Addr()))
	r.f.waitLog(t, "to=ringing", 10*time.Second)
	if err := r.f.phone.Hook(context.Background(), "off"); err != nil {
		t.Fatal(err)
	}
	caller.WaitEvent(baresiptest.Established, 5*time.Second)
	r.talk()
	caller.Hangup()
	caller.WaitEvent(baresiptest.Closed, 5*time.Second)
	r.f.waitLog(t, "to=disconnected", 5*time.Second)
	checkFarHeard(t, caller)
	r.checkEncrypted("3000")
}

// A mandatory line refuses a plain offer with 488 (the handset never
// rings); the caller hears why.
func TestSRTPMandatoryRefusesPlainOffer(t *testing.T) {
	t.Parallel()
	r := startSRTPRig(t, "mandatory", map[string]string{"3000": "pw3000"}, "")
	caller := baresiptest.Start(t, baresiptest.Opts{User: "3000", Registrar: r.kam.Addr().String(), Password: "pw3000"})
	caller.Dial(fmt.Sprintf("sip:1001@%s", r.kam.Addr()))
	ev := caller.WaitEvent(baresiptest.Closed, 10*time.Second)
	if !strings.Contains(ev.Param, "488") {
		t.Fatalf("the plain call closed with %q, want 488", ev.Param)
	}
	if st, _ := r.f.phone.State(context.Background()); st.Ringing {
		t.Fatal("the handset rings for a refused call")
	}
	if strings.Contains(r.f.log(), "to=ringing") {
		t.Fatal("the port went to ringing for a call without SRTP")
	}
}

// An optional line against a plain far end: the call is plain RTP with
// audio both ways, the call log says srtp false, and tshark does hear our
// tone in the firmware's RTP (the check that finds SRTP calls silent can
// hear a plain one).
func TestSRTPOptionalFallsBackToPlainRTP(t *testing.T) {
	t.Parallel()
	far := baresiptest.Start(t, baresiptest.Opts{User: "2000", Incoming: baresiptest.AutoAnswer, AnswerDelay: 300 * time.Millisecond,
		Audio: baresiptest.Tone(1300, -10, 20*time.Second)})
	r := startSRTPRig(t, "optional", nil, far.Addr().String())
	ctx := context.Background()
	if err := r.f.phone.Hook(ctx, "off"); err != nil {
		t.Fatal(err)
	}
	if err := r.f.phone.Dial(ctx, "2000", "dtmf"); err != nil {
		t.Fatal(err)
	}
	far.WaitEvent(baresiptest.Established, 10*time.Second)
	r.talk()
	if err := r.f.phone.Hook(ctx, "on"); err != nil {
		t.Fatal(err)
	}
	far.WaitEvent(baresiptest.Closed, 5*time.Second)
	checkFarHeard(t, far)
	n, tone := r.wireTone(700)
	t.Logf("tshark: %d RTP packets from the firmware, %d of them our 700 Hz as G.711", n, tone)
	if tone < 100 { // 3 s of it: 150 packets
		t.Errorf("only %d of the firmware's %d plain RTP packets decode to our 700 Hz", tone, n)
	}
	if num, srtp := r.lastCall(); num != "2000" || srtp {
		t.Errorf("call log: %s srtp %v, want 2000 srtp false", num, srtp)
	}
}

// A TLS line (SIP over TLS to Kamailio, which relays to the far end over
// UDP) with no srtp key: SRTP is optional there by default, and a call to
// a baresip with mediaenc=srtp-mand is SRTP with audio both ways.
func TestSRTPOverTLSLineByDefault(t *testing.T) {
	t.Parallel()
	far := baresiptest.Start(t, baresiptest.Opts{User: "2000", Incoming: baresiptest.AutoAnswer, AnswerDelay: 300 * time.Millisecond,
		Audio: baresiptest.Tone(1300, -10, 20*time.Second), MediaEnc: "srtp-mand"})
	r := startSRTPRigOn(t, "", true, nil, far.Addr().String())
	if c, _ := r.kam.Contacts("1001"); len(c) == 0 || !strings.HasPrefix(c[0], "sips:") {
		t.Fatalf("contacts %v: the line is not registered over TLS", c)
	}
	ctx := context.Background()
	if err := r.f.phone.Hook(ctx, "off"); err != nil {
		t.Fatal(err)
	}
	if err := r.f.phone.Dial(ctx, "2000", "dtmf"); err != nil {
		t.Fatal(err)
	}
	far.WaitEvent(baresiptest.Established, 10*time.Second)
	r.talk()
	if err := r.f.phone.Hook(ctx, "on"); err != nil {
		t.Fatal(err)
	}
	far.WaitEvent(baresiptest.Closed, 5*time.Second)
	checkFarHeard(t, far)
	r.checkEncrypted("2000")
}
