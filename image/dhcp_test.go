package image_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/openata/ata/provision"
)

// udhcpcOptions are the options rcS's udhcpc asks for (its -O flags).
func udhcpcOptions(t *testing.T) []string {
	t.Helper()
	rcs, err := os.ReadFile("board/common/overlay/etc/init.d/rcS")
	if err != nil {
		t.Fatal(err)
	}
	line := regexp.MustCompile(`(?m)^\s*udhcpc .*$`).Find(rcs)
	if line == nil {
		t.Fatal("rcS runs no udhcpc")
	}
	var opts []string
	for _, m := range regexp.MustCompile(`-O (\S+)`).FindAllStringSubmatch(string(line), -1) {
		opts = append(opts, "-O", m[1])
	}
	return opts
}

// dhcpLease runs a real DHCP exchange between busybox udhcpd (the
// server, with the options in serverConf) and busybox udhcpc (the client
// the image runs, with rcS's -O flags and the image's script) over a veth
// pair in network and mount namespaces of their own, and returns what the
// script left for the firmware (provision.DHCPFile).
func dhcpLease(t *testing.T, serverConf string) string {
	t.Helper()
	for _, tool := range []string{"busybox", "unshare", "ip"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("install %s: apt-get install %s", tool, map[string]string{"busybox": "busybox-static", "unshare": "util-linux", "ip": "iproute2"}[tool])
		}
	}
	script, err := filepath.Abs("board/common/overlay/usr/share/udhcpc/default.script")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	conf := filepath.Join(dir, "udhcpd.conf")
	os.WriteFile(filepath.Join(dir, "leases"), nil, 0o644)
	os.WriteFile(filepath.Join(dir, "resolv.conf"), nil, 0o644)
	if err := os.WriteFile(conf, []byte("interface v0\nstart 10.99.0.10\nend 10.99.0.20\nmax_leases 4\n"+
		"lease_file "+dir+"/leases\npidfile "+dir+"/udhcpd.pid\nopt subnet 255.255.255.0\n"+serverConf), 0o644); err != nil {
		t.Fatal(err)
	}
	sh := strings.Join([]string{
		"set -e",
		"ip link set lo up",
		"ip link add v0 type veth peer name v1",
		"ip addr add 10.99.0.1/24 dev v0",
		"ip link set v0 up", "ip link set v1 up",
		"mount -t tmpfs tmpfs /run",
		"mount --bind " + dir + "/resolv.conf /etc/resolv.conf",
		"busybox udhcpd -f " + conf + " >" + dir + "/udhcpd.log 2>&1 & server=$!",
		"busybox udhcpc -i v1 -n -q -t 10 -T 1 " + strings.Join(udhcpcOptions(t), " ") + " -s " + script,
		"kill $server",
		"echo '===== " + provision.DHCPFile + "'",
		"cat " + provision.DHCPFile,
	}, "\n")
	out, err := exec.Command("unshare", "--net", "--mount", "--map-root-user", "sh", "-c", sh).CombinedOutput()
	if err != nil {
		log, _ := os.ReadFile(filepath.Join(dir, "udhcpd.log"))
		t.Fatalf("DHCP exchange in a namespace: %v\n%s\nudhcpd:\n%s", err, out, log)
	}
	_, file, ok := strings.Cut(string(out), "===== "+provision.DHCPFile+"\n")
	if !ok {
		t.Fatalf("no file: %s", out)
	}
	return file
}

// TestDHCPLeaseGivesTheProvisioningURL: a DHCP server's options 66 and 67
// (a host and a file), or 160 (a URL), reach the firmware's parser
// through the image's own DHCP client (busybox udhcpc, asking as rcS
// does) and script; a URL in option 66, which udhcpc refuses (it takes a
// host name there), is reported as such.
func TestDHCPLeaseGivesTheProvisioningURL(t *testing.T) {
	for _, c := range []struct {
		name, conf, url, source, err string
	}{
		{"options 66 and 67", "opt tftp prov.example.net\nopt bootfile /ata/{mac}.toml\n", "http://prov.example.net/ata/{mac}.toml", "dhcp option 66", ""},
		{"option 160 over 66", "opt tftp 10.99.0.1\nopt 160 \"https://prov.example.net:8443/{model}/{mac}.toml\"\n",
			"https://prov.example.net:8443/{model}/{mac}.toml", "dhcp option 160", ""},
		{"a URL in option 66", "opt tftp http://10.99.0.1:8080/ata.toml\n", "", "dhcp option 66", "option 160"},
	} {
		file := dhcpLease(t, c.conf)
		u, source, err := provision.DHCPURL([]byte(file))
		if u != c.url || source != c.source || (c.err == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), c.err)) {
			t.Errorf("%s: the script left %q → (%q, %q, %v), want (%q, %q, error containing %q)", c.name, file, u, source, err, c.url, c.source, c.err)
		}
	}
}

// TestDHCPClientAsksForProvisioningOptions: the image's DHCP client, run
// as rcS runs it, asks for options 66, 67 and 160 (its DISCOVER's
// parameter request list, option 55, as dumpcap captures it and tshark
// reads it): servers that send only what is asked for send them.
func TestDHCPClientAsksForProvisioningOptions(t *testing.T) {
	for _, tool := range []string{"busybox", "unshare", "dumpcap", "tshark"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("install %s (busybox-static, util-linux, wireshark-common, tshark)", tool)
		}
	}
	dir := t.TempDir()
	pcap := filepath.Join(dir, "discover.pcap")
	sh := strings.Join([]string{
		"set -e",
		"ip link add v0 type veth peer name v1",
		"ip link set v0 up", "ip link set v1 up",
		"dumpcap -q -i v0 -f 'udp port 67' -c 1 -w " + pcap + " 2>" + dir + "/dumpcap.log & cap=$!",
		"i=0; until grep -q 'Capturing on' " + dir + "/dumpcap.log; do i=$((i+1)); [ $i -lt 100 ] || exit 3; sleep 0.05; done",
		"busybox udhcpc -i v1 -n -q -t 1 -T 1 " + strings.Join(udhcpcOptions(t), " ") + " -s /bin/true || true",
		"wait $cap",
	}, "\n")
	if out, err := exec.Command("unshare", "--net", "--mount", "--map-root-user", "sh", "-c", sh).CombinedOutput(); err != nil {
		log, _ := os.ReadFile(filepath.Join(dir, "dumpcap.log"))
		t.Fatalf("capturing udhcpc's DISCOVER: %v\n%s\n%s", err, out, log)
	}
	out, err := exec.Command("tshark", "-r", pcap, "-T", "fields", "-e", "dhcp.option.request_list_item").Output()
	if err != nil {
		t.Fatalf("tshark: %v", err)
	}
	asked := map[string]bool{}
	for _, code := range strings.Split(strings.TrimSpace(string(out)), ",") {
		asked[code] = true
	}
	for _, want := range []string{"66", "67", "160", "42"} {
		if !asked[want] {
			t.Errorf("the DISCOVER's parameter request list %q lacks option %s", strings.TrimSpace(string(out)), want)
		}
	}
}
