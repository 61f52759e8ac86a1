package image_test

import (
	"encoding/hex"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/openata/ata/provision"
)

// runUdhcpcScript runs the image's udhcpc script (as udhcpc would: the
// event as $1, the lease in the environment) in a mount namespace of its
// own, with tmpfs on /run and /etc/resolv.conf a scratch file, so the
// host is untouched; `ip` is a stub. It returns what the script left in
// provision.DHCPFile ("" when no file), after each event in turn.
func runUdhcpcScript(t *testing.T, env []string, events ...string) []string {
	t.Helper()
	if _, err := exec.LookPath("unshare"); err != nil {
		t.Fatal("install unshare: apt-get install util-linux")
	}
	script, err := filepath.Abs("board/common/overlay/usr/share/udhcpc/default.script")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	stubs := filepath.Join(dir, "bin")
	os.Mkdir(stubs, 0o755)
	if err := os.WriteFile(filepath.Join(stubs, "ip"), []byte("#!/bin/sh\nexit 0\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	resolv := filepath.Join(dir, "resolv.conf")
	os.WriteFile(resolv, nil, 0o644)
	const sep = "=====end of file====="
	var body strings.Builder
	body.WriteString("set -e; mount -t tmpfs tmpfs /run; mount --bind " + resolv + " /etc/resolv.conf; ")
	for _, ev := range events {
		body.WriteString("sh " + script + " " + ev + "; cat " + provision.DHCPFile + " 2>/dev/null || true; echo " + sep + "; ")
	}
	cmd := exec.Command("unshare", "--mount", "--map-root-user", "sh", "-c", body.String())
	cmd.Env = append([]string{"PATH=" + stubs + ":/usr/sbin:/usr/bin:/sbin:/bin", "interface=eth0", "ip=10.0.2.15", "mask=24"}, env...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("udhcpc script in a mount namespace: %v\n%s", err, out)
	}
	parts := strings.Split(string(out), sep+"\n")
	return parts[:len(parts)-1]
}

// TestUdhcpcScriptHandsOverProvisioningOptions: the image's DHCP client
// script writes options 66, 67 and 160 of a lease where the firmware reads
// them (provision.DHCPFile), in the form it reads (provision.DHCPURL:
// option 160 from udhcpc's hex, upper case as udhcpc writes it, wins
// over 66), and removes them when the lease is lost.
func TestUdhcpcScriptHandsOverProvisioningOptions(t *testing.T) {
	files := runUdhcpcScript(t, []string{"tftp=prov.example.net", "bootfile=/ata/{mac}.toml"}, "bound", "deconfig")
	u, source, err := provision.DHCPURL([]byte(files[0]))
	if err != nil || u != "http://prov.example.net/ata/{mac}.toml" || source != "dhcp option 66" {
		t.Fatalf("after bound with option 66 the file reads %q → (%q, %q, %v)", files[0], u, source, err)
	}
	if files[1] != "" {
		t.Fatalf("after deconfig the file is still there: %q", files[1])
	}

	opt160 := strings.ToUpper(hex.EncodeToString([]byte("https://prov.example.net/{model}/{mac}")))
	files = runUdhcpcScript(t, []string{"tftp=10.0.2.2", "opt160=" + opt160}, "renew")
	u, source, err = provision.DHCPURL([]byte(files[0]))
	if err != nil || u != "https://prov.example.net/{model}/{mac}" || source != "dhcp option 160" {
		t.Fatalf("after renew with options 66 and 160 the file reads %q → (%q, %q, %v)", files[0], u, source, err)
	}

	files = runUdhcpcScript(t, nil, "bound")
	if u, _, err := provision.DHCPURL([]byte(files[0])); u != "" || err != nil {
		t.Fatalf("a lease without the options gives %q (%v) from %q", u, err, files[0])
	}
}
