//go:build imagetest

// The image test builds the Raspberry Pi 3 SD card image, checks its
// partition table and boot files, and boots it under QEMU: -M virt with
// user networking (ata starts, answers through a forwarded port, sets the
// clock by SNTP and registers to Kamailio on the host; before that, rcS runs
// alsatest, board/rpi/alsa against the kernel's snd-aloop), and -M raspi3b with
// the image's own Pi 3 device tree (as far as that emulation goes).
//
//	make image-test     (go test -tags imagetest ./image/)
package image_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/openata/ata/board/pcm"
	"github.com/openata/ata/board/rpi/vgpio"
	"github.com/openata/ata/board/sim"
	"github.com/openata/ata/fxs/callerid/minimodemtest"
	"github.com/openata/ata/internal/kamailiotest"
	"github.com/openata/ata/internal/sipptest"
	"github.com/openata/ata/update"
)

const (
	board       = "rpi3"
	maxImage    = 192 << 20
	maxBinary   = 15 << 20
	sector      = 512
	ntpTime     = "2031-05-06T07:08:09Z" // what the test's SNTP server says
	sipUser     = "1001"
	sipPassword = "secret"
)

// tools: command -> Debian package.
var tools = [][2]string{
	{"make", "make"}, {"genimage", "genimage"}, {"mdir", "mtools"}, {"mcopy", "mtools"},
	{"mkfs.vfat", "dosfstools"}, {"mkfs.ext4", "e2fsprogs"}, {"debugfs", "e2fsprogs"},
	{"sfdisk", "fdisk"}, {"cpio", "cpio"}, {"depmod", "kmod"}, {"dpkg-deb", "dpkg"},
	{"curl", "curl"}, {"qemu-system-aarch64", "qemu-system-arm"}, {"kamailio", "kamailio"},
	{"sipp", "sip-tester"}, {"minimodem", "minimodem"},
}

func TestImage(t *testing.T) {
	os.Setenv("PATH", os.Getenv("PATH")+":/usr/sbin:/sbin")
	for _, tl := range tools {
		if _, err := exec.LookPath(tl[0]); err != nil {
			t.Fatalf("install %s: apt-get install %s", tl[0], tl[1])
		}
	}
	repo, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	img := filepath.Join(repo, "out", "ata-"+board+".img")

	// The image is built with a test key pair for updates (KEYS).
	upd := makeUpdateTools(t, repo)
	start := time.Now()
	build := exec.Command("make", "-f", "image.mk", "image", "BOARD="+board, "KEYS="+upd.keys)
	build.Dir = repo
	build.Stdout, build.Stderr = os.Stdout, os.Stderr
	if err := build.Run(); err != nil {
		t.Fatalf("make image BOARD=%s: %v", board, err)
	}
	t.Logf("make image BOARD=%s: %.1fs", board, time.Since(start).Seconds())

	parts := checkPartitions(t, img)
	checkBootFiles(t, img, parts)
	checkSizes(t, repo, img)
	checkCABundle(t, repo)

	// The card as a user would prepare it: config files on the data partition.
	disk := prepareCard(t, img)
	t.Run("qemu-virt", func(t *testing.T) { bootVirt(t, repo, disk) })
	t.Run("qemu-virt-selftest", func(t *testing.T) { bootVirtSelftest(t, repo, disk) })
	t.Run("qemu-update", func(t *testing.T) { bootUpdate(t, repo, upd, currentBuild(t, repo, upd, img)) })
	t.Run("qemu-raspi3b", func(t *testing.T) { bootRaspi3b(t, disk, parts[1].Start) })
}

// currentBuild is the image just built, with its update bundle (make
// update's last step, on the same build).
func currentBuild(t *testing.T, repo string, u updateTools, img string) builtImage {
	v, err := os.ReadFile(filepath.Join(repo, "out", "image-"+board, "initramfs", "etc", "ata", "version"))
	if err != nil {
		t.Fatal(err)
	}
	version := strings.TrimSpace(string(v))
	cmd := exec.Command("./image/bundle.sh", board)
	cmd.Dir = repo
	cmd.Env = append(os.Environ(), "KEYS="+u.keys, "ATA_BUNDLE="+u.bundle)
	t0 := time.Now()
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("image/bundle.sh: %v\n%s", err, out)
	}
	t.Logf("bundle of the image built in %.1fs", time.Since(t0).Seconds())
	return builtImage{img: img, version: version, bundle: filepath.Join(repo, "out", "ata-"+board+"-"+version+".update")}
}

type partition struct {
	Node     string `json:"node"`
	Start    int64  `json:"start"`
	Size     int64  `json:"size"`
	Type     string `json:"type"`
	Bootable bool   `json:"bootable"`
}

func checkPartitions(t *testing.T, img string) []partition {
	out, err := exec.Command("sfdisk", "--json", img).Output()
	if err != nil {
		t.Fatalf("sfdisk --json %s: %v", img, err)
	}
	var pt struct {
		PartitionTable struct {
			Label      string      `json:"label"`
			Partitions []partition `json:"partitions"`
		} `json:"partitiontable"`
	}
	if err := json.Unmarshal(out, &pt); err != nil {
		t.Fatalf("sfdisk --json: %v\n%s", err, out)
	}
	p := pt.PartitionTable.Partitions
	if pt.PartitionTable.Label != "dos" || len(p) != 4 {
		t.Fatalf("partition table %q with %d partitions, want dos with 4:\n%s", pt.PartitionTable.Label, len(p), out)
	}
	want := []struct {
		typ  string
		size int64 // sectors
		boot bool
	}{
		{"e", 16 << 20 / sector, true},   // boot, FAT16 LBA: firmware, autoboot.txt
		{"c", 64 << 20 / sector, false},  // slot A, FAT32 LBA
		{"c", 64 << 20 / sector, false},  // slot B
		{"83", 16 << 20 / sector, false}, // data
	}
	for i, w := range want {
		if p[i].Type != w.typ || p[i].Size != w.size || p[i].Bootable != w.boot {
			t.Errorf("partition %d: type %s, %d sectors, bootable %v; want type %s, %d sectors, bootable %v",
				i+1, p[i].Type, p[i].Size, p[i].Bootable, w.typ, w.size, w.boot)
		}
		if i > 0 && p[i].Start != p[i-1].Start+p[i-1].Size {
			t.Errorf("partition %d starts at %d, not right after partition %d", i+1, p[i].Start, i)
		}
	}
	if p[0].Start != 4<<20/sector {
		t.Errorf("boot partition starts at sector %d, want %d (4 MiB)", p[0].Start, 4<<20/sector)
	}
	t.Logf("partitions: %s", out)
	return p
}

// checkBootFiles checks p1 (the firmware and autoboot.txt choosing slot
// A, with its manifest) and slot A (a complete Pi boot partition).
func checkBootFiles(t *testing.T, img string, parts []partition) {
	fatFiles := func(p partition) (string, map[string]bool) {
		fat := fmt.Sprintf("%s@@%d", img, p.Start*sector)
		out, err := exec.Command("mdir", "-b", "-i", fat, "::").CombinedOutput()
		if err != nil {
			t.Fatalf("mdir: %v\n%s", err, out)
		}
		have := map[string]bool{}
		for _, l := range strings.Fields(string(out)) {
			have[strings.TrimPrefix(l, "::/")] = true
		}
		return fat, have
	}
	boot, have := fatFiles(parts[0])
	for _, f := range []string{"autoboot.txt", "config.txt", "bootcode.bin", "start.elf", "fixup.dat", "slot-2.json"} {
		if !have[f] {
			t.Errorf("boot partition has no %s (has %v)", f, have)
		}
	}
	ab, err := exec.Command("mtype", "-i", boot, "::autoboot.txt").Output()
	if err != nil {
		t.Fatalf("mtype autoboot.txt: %v", err)
	}
	if a, err := update.ParseAutoboot(ab); err != nil || a != (update.Autoboot{Committed: 2, Try: 3}) {
		t.Errorf("autoboot.txt: %+v %v, want slot A (p2) committed, p3 for tryboot:\n%s", a, err, ab)
	}
	slot, have := fatFiles(parts[1])
	for _, f := range []string{"config.txt", "cmdline.txt", "Image", "initramfs", "start.elf", "fixup.dat",
		"bcm2837-rpi-3-b.dtb", "bcm2837-rpi-3-b-plus.dtb"} {
		if !have[f] {
			t.Errorf("slot A has no %s (has %v)", f, have)
		}
	}
	cfg, err := exec.Command("mtype", "-i", slot, "::config.txt").Output()
	if err != nil {
		t.Fatalf("mtype config.txt: %v", err)
	}
	for _, line := range []string{"arm_64bit=1", "kernel=Image", "initramfs initramfs followkernel", "enable_uart=1"} {
		if !bytes.Contains(cfg, []byte(line+"\n")) {
			t.Errorf("config.txt lacks %q:\n%s", line, cfg)
		}
	}
}

func checkSizes(t *testing.T, repo, img string) {
	for _, f := range []struct {
		path string
		max  int64
	}{{filepath.Join(repo, "out", "ata-linux-arm64"), maxBinary}, {img, maxImage}} {
		st, err := os.Stat(f.path)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("size %s: %.1f MiB (limit %d MiB)", filepath.Base(f.path), float64(st.Size())/(1<<20), f.max>>20)
		if st.Size() > f.max {
			t.Errorf("%s is %d bytes, over %d", f.path, st.Size(), f.max)
		}
	}
}

// prepareCard copies the image, as flashing would; each boot then writes
// its ata.toml (and network.conf) onto the copy's data partition, as a user
// would. Hook for other registrars: ataConfig's [[line]].
func prepareCard(t *testing.T, img string) string {
	dir := t.TempDir()
	disk := filepath.Join(dir, "card.img")
	if out, err := exec.Command("cp", "--sparse=always", img, disk).CombinedOutput(); err != nil {
		t.Fatalf("cp: %v\n%s", err, out)
	}
	return disk
}

// writeData puts files (name -> content) on the data partition (debugfs, no mount).
func writeData(t *testing.T, disk string, dataStart int64, files map[string]string) {
	for name, content := range files {
		writeDataFile(t, disk, dataStart, name, []byte(content), 0o644)
	}
}

// writeDataFile puts one file on the data partition, making its directory
// (one level); debugfs gives it the mode of the host file it copies.
func writeDataFile(t *testing.T, disk string, dataStart int64, name string, content []byte, mode os.FileMode) {
	dev := fmt.Sprintf("%s?offset=%d", disk, dataStart*sector)
	if dir := filepath.Dir(name); dir != "." {
		exec.Command("debugfs", "-w", "-R", "mkdir "+dir, dev).Run() // may exist already
	}
	// debugfs does not overwrite: remove the image's own copy first.
	exec.Command("debugfs", "-w", "-R", "rm "+name, dev).Run()
	src := filepath.Join(t.TempDir(), filepath.Base(name))
	if err := os.WriteFile(src, content, mode); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("debugfs", "-w", "-R", fmt.Sprintf("write %s %s", src, name), dev).CombinedOutput()
	if err != nil || !bytes.Contains(out, []byte("Allocated inode")) {
		t.Fatalf("debugfs write %s: %v\n%s", name, err, out)
	}
}

func ataConfig(kamPort uint16) string {
	return fmt.Sprintf(`[board]
name = "sim"
sim_listen = "127.0.0.1:8081"

[phone]
region = "us"

[web]
listen = ":80"

[sip]
listen = "0.0.0.0:5060"

# Kamailio listens on the host's loopback, which is therefore its domain
# ("myself"); the guest reaches it through QEMU's user network at 10.0.2.2.
[[line]]
number = %q
service_domain = "127.0.0.1:%[2]d"
outbound_proxy = "10.0.2.2:%[2]d"
auth_user = %[1]q
password = %[3]q
`, sipUser, kamPort, sipPassword)
}

// ataPiConfig is the Raspberry Pi board on snd-aloop: the sound card is
// hw:Loopback,0 and the SLIC's control lines are virtual, driven over HTTP
// on the sim API's address (which the ata.relay hook and qemu.sh's
// SIM_PORT forward). Four digits make a number; the echo canceller is off
// for the loopback call check (see the comment in the config).
func ataPiConfig(kamPort uint16) string {
	return strings.NewReplacer(`name = "sim"
sim_listen = "127.0.0.1:8081"`, `name = "rpi-ag1171"
virtual_gpio_listen = "127.0.0.1:8081"
audio_capture = "hw:Loopback,0"
audio_playback = "hw:Loopback,0"`,
		`region = "us"`, `region = "us"
dial_plan = "(xxxx)"
# The call check loops a steady tone back through sipp's RTP echo: to a
# line echo canceller that is a predictable echo of the earpiece, which it
# learns and may overshoot (one CI run heard the tone 8 dB louder). The
# canceller is tested end to end in cmd/ata (echo_test.go).
echo_canceller = false`,
		`listen = ":80"`, `listen = ":80"
metrics_public = true`).Replace(ataConfig(kamPort))
}

// farPhone is the phone on the far side of snd-aloop: alsatest -serve,
// started beside ata by rcS's ata.testservice hook.
const farPhone = `#!/bin/sh
exec /data/alsatest -serve :8083 -capture hw:Loopback,1 -play hw:Loopback,1
`

// bootVirt boots the image as a user would run it on a Pi, except that
// the SLIC is virtual GPIOs and the sound card is snd-aloop: ata registers
// to Kamailio on the host (timed from QEMU start), and the phone on the
// loopback's other side hears ata's dial tone and reorder tone and dials
// a number by DTMF that ata decodes and calls.
func bootVirt(t *testing.T, repo, card string) {
	// Numbers that are not registered go to sipp on farEnd (the calls of
	// checkPiAudio); its INVITEs skip authentication.
	farEnd := fmt.Sprintf("127.0.0.1:%d", freeUDPPort(t))
	kam := kamailiotest.Start(t, kamailiotest.Config{Users: map[string]string{sipUser: sipPassword}, FarEnd: farEnd})
	ntpPort := startSNTP(t)
	disk := filepath.Join(t.TempDir(), "virt.img")
	copyFile(t, card, disk)
	start := dataStart(t, disk)
	writeData(t, disk, start, map[string]string{
		"ata.toml":     ataPiConfig(kam.Addr().Port()),
		"network.conf": fmt.Sprintf("mode=dhcp\nntp=10.0.2.2:%d\n", ntpPort),
	})
	writeDataFile(t, disk, start, "alsatest", crossBuild(t, repo, "./board/rpi/alsa/cmd/alsatest", false), 0o755)
	writeDataFile(t, disk, start, "testservice.d/farphone", []byte(farPhone), 0o755)
	webPort, gpioPort, sipPort, phonePort := freeTCPPort(t), freeTCPPort(t), freeUDPPort(t), freeTCPPort(t)

	qemu := exec.Command("./qemu.sh", disk)
	qemu.Env = append(os.Environ(), "QEMU_DISK="+filepath.Join(t.TempDir(), "disk.img"),
		fmt.Sprintf("WEB_PORT=%d", webPort), fmt.Sprintf("SIM_PORT=%d", gpioPort), fmt.Sprintf("SIP_PORT=%d", sipPort),
		fmt.Sprintf("QEMU_HOSTFWD=,hostfwd=tcp:127.0.0.1:%d-:8083", phonePort),
		"QEMU_APPEND=ata.testservice")
	t0 := time.Now()
	con := startConsole(t, qemu)

	con.wait(t, "ata-supervise: starting ata -config /data/ata.toml", 60*time.Second)
	con.wait(t, `msg="ata: started"`, 30*time.Second)
	tStarted, _ := con.arrival(`msg="ata: started"`)

	// The web UI answers on the forwarded port: any HTTP response comes from
	// ata (QEMU closes a forwarded connection nothing in the guest accepts).
	web := fmt.Sprintf("http://127.0.0.1:%d/login", webPort)
	var tWeb time.Duration
	for deadline := time.Now().Add(30 * time.Second); ; {
		status, _, err := httpGet(web)
		if err == nil {
			tWeb = time.Since(t0)
			t.Logf("GET %s (the web UI in the guest): %s", web, status)
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("GET %s: %v\nconsole:\n%s", web, err, con)
		}
		time.Sleep(100 * time.Millisecond)
	}

	// The time is when ata said so on the console (the 200 OK received);
	// Kamailio's location table confirms the binding.
	con.wait(t, `to=registered`, 30*time.Second)
	tReg, _ := con.arrival(`to=registered`)
	for deadline := time.Now().Add(30 * time.Second); ; {
		c, err := kam.Contacts(sipUser)
		if err == nil && len(c) > 0 {
			t.Logf("Kamailio contacts for %s: %v", sipUser, c)
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no registration for %s at Kamailio %s: %v\nconsole:\n%s", sipUser, kam.Addr(), err, con)
		}
		time.Sleep(100 * time.Millisecond)
	}
	// QEMU starts when qemu.sh says so, after it has extracted the kernel
	// and copied the card (not part of a boot).
	tQEMU, ok := con.arrival("image: qemu: web UI")
	if !ok {
		t.Fatal("qemu.sh did not announce QEMU's start")
	}
	t.Logf("QEMU -M virt: start -> ata started %.1fs, -> web UI answered %.1fs, -> registered (ata's log line for the REGISTER 200 OK) %.1fs (qemu.sh's preparation before that: %.1fs)",
		(tStarted - tQEMU).Seconds(), (tWeb - tQEMU).Seconds(), (tReg - tQEMU).Seconds(), tQEMU.Seconds())
	fmt.Printf("image test: QEMU start -> registered: %.1fs\n", (tReg - tQEMU).Seconds())

	// Checked after the registration, not to hold up its timing: the clock
	// (SNTP) and the first boot's growth of the data partition and its file
	// system, both in the background while ata starts.
	con.wait(t, "ntp: clock set from 10.0.2.2:", 30*time.Second)
	if !strings.Contains(con.String(), "to "+ntpTime[:16]) {
		t.Errorf("guest clock not set to the test server's time %s", ntpTime)
	}
	con.wait(t, "grow-part: /dev/vda4 16 MiB -> 108 MiB", 30*time.Second) // 256 MiB disk, p4 at 148 MiB
	con.wait(t, "grow-fs: /data 16 MiB -> 108 MiB", 30*time.Second)
	t.Logf("boot timeline (time since qemu.sh started; rcS stamps the guest uptime):\n%s", con.bootTimeline())

	checkPiAudio(t, con, piRig{
		slic:   &sim.Client{BaseURL: fmt.Sprintf("http://127.0.0.1:%d", gpioPort)},
		phone:  &sim.Client{BaseURL: fmt.Sprintf("http://127.0.0.1:%d", phonePort)},
		kam:    kam.Addr().String(),
		farEnd: farEnd,
		web:    fmt.Sprintf("http://127.0.0.1:%d", webPort),
	})
}

// piRig is what the host reaches of the Pi board in the guest: the
// virtual SLIC lines (hook, and the ring and polarity outputs), the phone
// on the far side of snd-aloop, Kamailio and the address sipp uses as the
// provider's far end.
type piRig struct {
	slic        *sim.Client // the virtual GPIOs: POST /hook, and vgpio's /state
	phone       *sim.Client // alsatest -serve
	kam, farEnd string
	web         string // ata's web UI
}

func (r piRig) lines(t *testing.T) vgpio.State {
	t.Helper()
	resp, err := http.Get(r.slic.BaseURL + "/state")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var s vgpio.State
	if err := json.NewDecoder(resp.Body).Decode(&s); err != nil {
		t.Fatalf("GET %s/state: %v", r.slic.BaseURL, err)
	}
	return s
}

// checkPiAudio runs calls on ata's Pi board in the guest, the sound card
// being snd-aloop and the SLIC virtual: the far phone hears ata's dial
// tone with its frequencies and levels; DTMF it plays into the loop is
// decoded by ata, which calls the number; in the call, what the phone
// says goes out as RTP and comes back through sipp's echo into the
// earpiece; an incoming call rings on the RM and F/R lines at the US
// cadence and 20 Hz, with caller ID between the rings that minimodem
// decodes from the far side of the loop.
func checkPiAudio(t *testing.T, con *console, r piRig) {
	ctx := context.Background()
	for deadline := time.Now().Add(20 * time.Second); ; {
		_, err1 := r.slic.State(ctx)
		_, err2 := r.phone.State(ctx)
		if err1 == nil && err2 == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("virtual GPIO API: %v; far phone (alsatest -serve): %v", err1, err2)
		}
		time.Sleep(200 * time.Millisecond)
	}
	if !strings.Contains(con.String(), `msg="ata: board" name=rpi-ag1171`) {
		t.Fatalf("ata is not running the Pi board")
	}
	xBoot := r.xruns(t)
	// The far phone's mouthpiece is live only off-hook; the SLIC's hook
	// switch is what ata sees.
	if err := r.phone.Hook(ctx, "off"); err != nil {
		t.Fatal(err)
	}
	if err := r.slic.Hook(ctx, "off"); err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond) // the hook debounce and the loop's latency
	heard, err := r.phone.Listen(ctx, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	// US dial tone: 350 + 440 Hz, −13 dBm0 each.
	l350, l440, l1000 := toneLevel(heard, 350), toneLevel(heard, 440), toneLevel(heard, 1000)
	t.Logf("ata's dial tone through snd-aloop (ALSA in the guest, heard on hw:Loopback,1): 350 Hz %.1f dBm0, 440 Hz %.1f dBm0, 1000 Hz %.1f dBm0", l350, l440, l1000)
	if math.Abs(l350+13) > 1 || math.Abs(l440+13) > 1 || l1000 > -40 {
		t.Errorf("dial tone: 350 Hz %.1f, 440 Hz %.1f, 1000 Hz %.1f dBm0; want −13 ± 1, −13 ± 1, below −40", l350, l440, l1000)
	}

	// Four digits by DTMF into the loop: ata decodes them and calls 2000,
	// which Kamailio relays to sipp; sipp answers with its media at the
	// host and echoes the RTP it gets.
	echo := sipptest.Run(t, r.farEnd, filepath.Join("testdata", "sipp", "uas_echo.xml"), map[string]string{"talk_ms": "20000"}, "-rtp_echo")
	if err := r.phone.Dial(ctx, "2000", "dtmf"); err != nil {
		t.Fatal(err)
	}
	con.wait(t, `to=calling why="dialled 2000"`, 10*time.Second)
	con.wait(t, `to=talking`, 10*time.Second)
	time.Sleep(500 * time.Millisecond)
	// 1.5 s of 1 kHz into the mouthpiece while the earpiece is recorded:
	// out through ALSA capture, G.711 and RTP to the host, back through
	// the jitter buffer and ALSA playback.
	const said = -10.0
	tone := make([]int16, 12000)
	sine := pcm.NewSine(1000, pcm.Amplitude(said), 8000)
	for i := range tone {
		tone[i] = pcm.Clip16(sine.Next())
	}
	type listened struct {
		x   []int16
		err error
	}
	got := make(chan listened, 1)
	go func() {
		x, err := r.phone.Listen(ctx, 2500*time.Millisecond)
		got <- listened{x, err}
	}()
	time.Sleep(100 * time.Millisecond)
	if err := r.phone.Speak(ctx, tone); err != nil {
		t.Fatal(err)
	}
	l := <-got
	if l.err != nil {
		t.Fatal(l.err)
	}
	back := windowLevels(l.x, 1000, 400)
	loud := back[len(back)-1]
	onset := -1
	for i := 0; i+80 <= len(l.x); i += 80 {
		if pcm.ToneLevel(l.x[i:i+80], 1000) > said-10 {
			onset = i / 8
			break
		}
	}
	t.Logf("in the call: 1000 Hz said at %.1f dBm0 came back through RTP (sipp's echo on the host) at %.1f dBm0; first heard %d ms into the recording (the speech was queued about 100 ms in)",
		said, loud, onset)
	if math.Abs(loud-said) > 1.5 || onset < 0 {
		t.Errorf("echoed tone %.1f dBm0 (want %.1f ± 1.5), onset %d ms", loud, said, onset)
	}
	if err := r.slic.Hook(ctx, "on"); err != nil {
		t.Fatal(err)
	}
	sipptest.Wait(t, echo, 10*time.Second) // sipp got ata's BYE
	con.wait(t, `from=talking to=idle`, 5*time.Second)

	xCall := r.xruns(t)
	checkPiRing(t, con, r)

	t.Logf("sound card xruns (snd-aloop, ata's /metrics): %d after the boot, %d after the dial tone and the outgoing call, %d after the incoming one",
		xBoot, xCall, r.xruns(t))
}

// xruns reads ata_audio_xruns_total from ata's /metrics.
func (r piRig) xruns(t *testing.T) int {
	t.Helper()
	status, body, err := httpGet(r.web + "/metrics")
	m := regexp.MustCompile(`(?m)^ata_audio_xruns_total (\d+)$`).FindStringSubmatch(body)
	if err != nil || !strings.HasPrefix(status, "200") || m == nil {
		t.Fatalf("GET %s/metrics: %s %v: no ata_audio_xruns_total", r.web, status, err)
	}
	n, _ := strconv.Atoi(m[1])
	return n
}

// checkPiRing has sipp call 1001: the RM line goes high for the US
// cadence's 2 s bursts, F/R toggles at 20 Hz within them, the Bell 202
// caller ID between the first two bursts reaches the far side of the
// loop, and lifting the handset answers.
func checkPiRing(t *testing.T, con *console, r piRig) {
	ctx := context.Background()
	call := sipptest.Run(t, r.farEnd, filepath.Join("testdata", "sipp", "uac_ring.xml"),
		map[string]string{"answer_ms": "20000", "talk_ms": "1000"}, "-s", sipUser, r.kam)
	type sample struct {
		at time.Duration
		s  vgpio.State
	}
	var samples []sample
	t0 := time.Now()
	cid := make(chan []int16, 1)
	listening := false
	// Poll the lines through the first burst, the silent interval and
	// into the second burst.
	for deadline := t0.Add(15 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		s := r.lines(t)
		samples = append(samples, sample{time.Since(t0), s})
		n := len(samples)
		if n > 1 && samples[n-2].s.Ringing && !s.Ringing && !listening {
			listening = true // the first burst ended: caller ID comes now
			go func() {
				x, err := r.phone.Listen(ctx, 3*time.Second)
				if err != nil {
					t.Error(err)
				}
				cid <- x
			}()
		}
		if listening && s.Ringing {
			break // the second burst
		}
		if time.Now().After(deadline) {
			t.Fatalf("no two ring bursts within 15 s: %+v", samples[n-1].s)
		}
	}
	// The first burst as the virtual lines timed it in the guest (RM high,
	// F/R's median interval), and the pause after it as polled from here.
	var first vgpio.State
	var off time.Duration
	for i, sm := range samples {
		if i > 0 && !sm.s.Ringing && samples[i-1].s.Ringing {
			first, off = sm.s, sm.at
			break
		}
	}
	gap := samples[len(samples)-1].at - off
	burst := time.Duration(first.LastBurst) * time.Millisecond
	t.Logf("incoming call: RM high for %.2f s then low for %.2f s (US cadence 2 s / 4 s), F/R at %.1f Hz in the burst",
		burst.Seconds(), gap.Seconds(), first.RingHz)
	if math.Abs(burst.Seconds()-2) > 0.05 || math.Abs(gap.Seconds()-4) > 0.2 || math.Abs(first.RingHz-20) > 1 {
		t.Errorf("ring: burst %.2f s (want 2), gap %.2f s (want 4), F/R %.1f Hz (want 20)", burst.Seconds(), gap.Seconds(), first.RingHz)
	}
	info := minimodemtest.MDMF(t, <-cid, false)
	t.Logf("caller ID decoded by minimodem from hw:Loopback,1: %q %q", info.Number, info.Name)
	if info.Number != "3000" || info.Name != "ADA LOVELACE" {
		t.Errorf("caller ID %+v, want 3000 / ADA LOVELACE", info)
	}
	if err := r.slic.Hook(ctx, "off"); err != nil {
		t.Fatal(err)
	}
	con.wait(t, `from=ringing to=talking`, 5*time.Second)
	if s := r.lines(t); s.Ringing {
		t.Errorf("still ringing after the answer: %+v", s)
	}
	sipptest.Wait(t, call, 15*time.Second) // sipp hung up after 1 s
	con.wait(t, `from=talking to=disconnected`, 5*time.Second)
	if err := r.slic.Hook(ctx, "on"); err != nil {
		t.Fatal(err)
	}
}

// windowLevels are the levels in dBm0 of frequency f over windows of n
// samples of x, sorted. With windows holding a whole number of cycles the
// bins are exact, and a sample the drift absorber may drop or repeat
// spoils one window rather than the phase of the whole.
func windowLevels(x []int16, f float64, n int) []float64 {
	var levels []float64
	for i := 0; i+n <= len(x); i += n {
		levels = append(levels, pcm.ToneLevel(x[i:i+n], f))
	}
	sort.Float64s(levels)
	if len(levels) == 0 {
		levels = []float64{math.Inf(-1)}
	}
	return levels
}

// toneLevel is the median level of f over 100 ms windows.
func toneLevel(x []int16, f float64) float64 {
	l := windowLevels(x, f, 800)
	return l[len(l)/2]
}

// bootVirtSelftest runs the ALSA checks in the guest before ata starts
// (rcS's ata.selftest hook): alsatest's tone through snd-aloop, and
// board/rpi/alsa's tests and its device benchmark: wake-ups and
// allocations per period of the voice path on the real driver.
func bootVirtSelftest(t *testing.T, repo, card string) {
	disk := filepath.Join(t.TempDir(), "selftest.img")
	copyFile(t, card, disk)
	start := dataStart(t, disk)
	writeDataFile(t, disk, start, "selftest.d/alsatest", crossBuild(t, repo, "./board/rpi/alsa/cmd/alsatest", false), 0o755)
	writeDataFile(t, disk, start, "alsa.test", crossBuild(t, repo, "./board/rpi/alsa", true), 0o755)
	writeDataFile(t, disk, start, "selftest.d/alsabench", []byte(`#!/bin/sh
ATA_ALSA_DEVICE=hw:Loopback,0 exec /data/alsa.test -test.v -test.run 'StructLayout|IoctlNumbers' -test.bench DuplexDevice -test.benchtime 150x -test.benchmem
`), 0o755)
	qemu := exec.Command("./qemu.sh", disk)
	qemu.Env = append(os.Environ(), "QEMU_DISK="+filepath.Join(t.TempDir(), "disk.img"),
		fmt.Sprintf("WEB_PORT=%d", freeTCPPort(t)), fmt.Sprintf("SIM_PORT=%d", freeTCPPort(t)), fmt.Sprintf("SIP_PORT=%d", freeUDPPort(t)),
		"QEMU_APPEND=ata.selftest")
	con := startConsole(t, qemu)
	// rcS runs them in name order: alsabench, then alsatest.
	con.wait(t, "selftest: alsatest exit ", 120*time.Second)
	out := con.String()
	line := con.line("alsatest: ")
	if !strings.HasPrefix(line, "alsatest: hw:Loopback,0 → hw:Loopback,1: ") || strings.Contains(out, "alsatest: FAIL") ||
		!strings.Contains(out, "selftest: alsatest exit 0") {
		t.Errorf("alsatest in the guest (snd-aloop) failed: %q", line)
	} else {
		t.Logf("%s (in the guest %s)", line, selftestTime(out, "alsatest"))
	}
	if !strings.Contains(out, "selftest: alsabench exit 0") {
		t.Fatalf("board/rpi/alsa tests and benchmark in the guest failed")
	}
	bench := con.line("BenchmarkDuplexDevice-")
	metrics := map[string]float64{}
	f := strings.Fields(bench)
	for i := 2; i+1 < len(f); i += 2 {
		var v float64
		if _, err := fmt.Sscan(f[i], &v); err == nil {
			metrics[f[i+1]] = v
		}
	}
	t.Logf("board/rpi/alsa on snd-aloop in the guest (20 ms frames): %s", bench)
	w, okW := metrics["wakeups/period"]
	a, okA := metrics["allocs/op"]
	if !okW || !okA || w < 0.5 || w > 1.05 || a != 0 {
		t.Errorf("voice path on the real driver: %.2f wake-ups and %.0f allocations per period, want 1 and 0 (%q)", w, a, bench)
	}
}

// crossBuild builds a command (or, test, a package's test binary) for the
// guest: arm64, static.
func crossBuild(t *testing.T, repo, pkg string, test bool) []byte {
	bin := filepath.Join(t.TempDir(), filepath.Base(pkg))
	args := []string{"build", "-trimpath", "-ldflags", "-s -w", "-o", bin, pkg}
	if test {
		args = []string{"test", "-c", "-trimpath", "-ldflags", "-s -w", "-o", bin, pkg}
	}
	build := exec.Command("go", args...)
	build.Dir = repo
	build.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH=arm64")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go %v: %v\n%s", args, err, out)
	}
	b, err := os.ReadFile(bin)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// bootRaspi3b boots the image's own kernel, initramfs and Pi 3 device tree
// (from slot A, which bootStart locates) on QEMU's Raspberry Pi 3 model,
// with the card on the emulated SD host.
// That model has no network (the Pi 3's Ethernet is a USB chip QEMU lacks)
// and its watchdog resets at once when armed (hence ata.nowatchdog).
func bootRaspi3b(t *testing.T, card string, bootStart int64) {
	dir := t.TempDir()
	fat := fmt.Sprintf("%s@@%d", card, bootStart*sector)
	if out, err := exec.Command("mcopy", "-n", "-i", fat, "::Image", "::initramfs", "::bcm2837-rpi-3-b.dtb", dir).CombinedOutput(); err != nil {
		t.Fatalf("mcopy: %v\n%s", err, out)
	}
	disk := filepath.Join(dir, "sd.img")
	copyFile(t, card, disk)
	writeData(t, disk, dataStart(t, disk), map[string]string{"ata.toml": ataConfig(5060)})
	if err := os.Truncate(disk, 256<<20); err != nil { // the SD model wants a power-of-two size
		t.Fatal(err)
	}
	// The board's kernel arguments (boot-time settings included), with QEMU's console.
	cmdline, err := exec.Command("mtype", "-i", fat, "::cmdline.txt").Output()
	if err != nil {
		t.Fatalf("mtype cmdline.txt: %v", err)
	}
	var args []string
	for _, a := range strings.Fields(string(cmdline)) {
		if !strings.HasPrefix(a, "console=") {
			args = append(args, a)
		}
	}
	qemu := exec.Command("qemu-system-aarch64", "-M", "raspi3b", "-m", "1G", "-nographic", "-no-reboot",
		"-kernel", filepath.Join(dir, "Image"), "-initrd", filepath.Join(dir, "initramfs"),
		"-dtb", filepath.Join(dir, "bcm2837-rpi-3-b.dtb"),
		"-append", "console=ttyAMA0,115200 "+strings.Join(args, " ")+" ata.nowatchdog",
		"-drive", "file="+disk+",format=raw,if=sd", "-serial", "mon:stdio", "-serial", "null")
	t0 := time.Now()
	con := startConsole(t, qemu)
	con.wait(t, "modules loaded (raspberrypi,3-model-b brcm,bcm2837", 150*time.Second)
	con.wait(t, "data: /dev/mmcblk0p4 on /data", 60*time.Second)
	con.wait(t, `msg="ata: started"`, 90*time.Second)
	t.Logf("QEMU -M raspi3b: start -> ata started %.1fs (SD card data partition mounted and grown; no network in this model)",
		time.Since(t0).Seconds())
}

// console collects a QEMU serial console.
type console struct {
	mu      sync.Mutex
	buf     bytes.Buffer
	cond    chan struct{}
	started time.Time
	stamps  []stampedLine
	eof     chan struct{} // closed when the command's output ends (it exited)
}

// stampedLine is a console line and when it arrived, since the command (qemu.sh) started.
type stampedLine struct {
	at   time.Duration
	line string
}

// arrival is when the first line containing s arrived (false if none has).
func (c *console) arrival(s string) (time.Duration, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, l := range c.stamps {
		if strings.Contains(l.line, s) {
			return l.at, true
		}
	}
	return 0, false
}

func (c *console) String() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.buf.String()
}

func startConsole(t *testing.T, cmd *exec.Cmd) *console {
	t.Helper()
	c := &console{cond: make(chan struct{}, 1), started: time.Now()}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = cmd.Stdout
	if err := cmd.Start(); err != nil {
		t.Fatalf("%s: %v", cmd.Path, err)
	}
	done := make(chan struct{})
	c.eof = done
	go func() {
		defer close(done)
		r := bufio.NewReader(out)
		for {
			line, err := r.ReadString('\n')
			c.mu.Lock()
			c.buf.WriteString(line)
			c.stamps = append(c.stamps, stampedLine{time.Since(c.started), strings.TrimSpace(line)})
			c.mu.Unlock()
			select {
			case c.cond <- struct{}{}:
			default:
			}
			if err != nil {
				return
			}
		}
	}()
	t.Cleanup(func() {
		syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM) // the process group this test started
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		}
		cmd.Wait()
		if t.Failed() {
			t.Logf("console:\n%s", c)
		}
	})
	return c
}

// selftestTime is how long rcS ran a self-test, from its uptime stamps
// ("rcS: [12.34] selftest: NAME" ... "rcS: [14.56] selftest: NAME exit 0").
func selftestTime(console, name string) string {
	var from, to float64
	for _, l := range strings.Split(console, "\n") {
		var at float64
		var rest string
		if _, err := fmt.Sscanf(strings.TrimSpace(l), "rcS: [%f] selftest: %s", &at, &rest); err != nil || rest != name {
			continue
		}
		if strings.Contains(l, name+" exit") {
			to = at
		} else {
			from = at
		}
	}
	if from == 0 || to < from {
		return "?"
	}
	return fmt.Sprintf("%.1fs", to-from)
}

// bootTimeline is the console's boot progress lines, each with the time
// since qemu.sh started: rcS's (with the guest's uptime), the data growth,
// and ata's start and registration.
func (c *console) bootTimeline() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var b strings.Builder
	for _, sl := range c.stamps {
		l := sl.line
		if strings.Contains(l, "image: qemu:") || strings.Contains(l, "rcS: [") || strings.Contains(l, "grow-") || strings.Contains(l, "rcS: ntp:") ||
			strings.Contains(l, "ata-supervise: starting") || strings.Contains(l, `msg="ata: started"`) ||
			strings.Contains(l, `msg="ata: board"`) || strings.Contains(l, `msg="sip: registration state"`) {
			fmt.Fprintf(&b, "\t%5.2fs %s\n", sl.at.Seconds(), l)
		}
	}
	return b.String()
}

// line returns the first console line starting with prefix, trimmed ("" if none).
func (c *console) line(prefix string) string {
	for _, l := range strings.Split(c.String(), "\n") {
		if l = strings.TrimSpace(l); strings.HasPrefix(l, prefix) {
			return l
		}
	}
	return ""
}

func (c *console) wait(t *testing.T, s string, timeout time.Duration) {
	t.Helper()
	deadline := time.After(timeout)
	for !strings.Contains(c.String(), s) {
		select {
		case <-c.cond:
		case <-time.After(200 * time.Millisecond):
		case <-deadline:
			t.Fatalf("console: no %q within %v", s, timeout)
		}
	}
}

// startSNTP answers SNTP requests with ntpTime; it returns the UDP port.
func startSNTP(t *testing.T) int {
	conn, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	at, _ := time.Parse(time.RFC3339, ntpTime)
	ts := uint64(at.Unix()+2208988800) << 32
	go func() {
		buf := make([]byte, 128)
		for {
			n, from, err := conn.ReadFromUDP(buf)
			if err != nil {
				return
			}
			if n < 48 {
				continue
			}
			r := make([]byte, 48)
			r[0] = 0<<6 | 4<<3 | 4 // LI 0, version 4, server
			r[1] = 1               // stratum 1
			copy(r[24:32], buf[40:48])
			binary.BigEndian.PutUint64(r[32:], ts)
			binary.BigEndian.PutUint64(r[40:], ts)
			conn.WriteToUDP(r, from)
		}
	}()
	return conn.LocalAddr().(*net.UDPAddr).Port
}

func dataStart(t *testing.T, disk string) int64 {
	out, err := exec.Command("sfdisk", "--json", disk).Output()
	if err != nil {
		t.Fatal(err)
	}
	var pt struct {
		PartitionTable struct{ Partitions []partition } `json:"partitiontable"`
	}
	if err := json.Unmarshal(out, &pt); err != nil || len(pt.PartitionTable.Partitions) != 4 {
		t.Fatalf("sfdisk --json %s: %v", disk, err)
	}
	return pt.PartitionTable.Partitions[3].Start
}

func copyFile(t *testing.T, from, to string) {
	if out, err := exec.Command("cp", "--sparse=always", from, to).CombinedOutput(); err != nil {
		t.Fatalf("cp: %v\n%s", err, out)
	}
}

// httpGet returns the status line and body; redirects are not followed.
func httpGet(url string) (status, body string, err error) {
	c := http.Client{Timeout: 2 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := c.Get(url)
	if err != nil {
		return "", "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.Status, string(b), err
}

func freeTCPPort(t *testing.T) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func freeUDPPort(t *testing.T) int {
	c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	return c.LocalAddr().(*net.UDPAddr).Port
}
