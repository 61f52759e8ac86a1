package provision

import (
	"bufio"
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
	"unicode/utf8"
)

// DHCPFile is where the image's DHCP client script (udhcpc's
// default.script) leaves the provisioning options of its lease, one
// key=value per line:
//
//	tftp=VALUE     option 66 (TFTP server name), as udhcpc gives it: a host
//	               name, or "bad" when the value was not one (busybox checks)
//	bootfile=PATH  option 67 (boot file name), else the BOOTP header's file
//	opt160=HEX     option 160 (a provisioning URL), hex as udhcpc gives unknown options
//
// The file is rewritten at every lease (bound, renew) and removed when the
// lease is lost (deconfig).
const DHCPFile = "/run/ata/dhcp-provisioning"

// maxDHCPValue bounds an option's value: DHCP options are at most 255
// bytes each (longer ones are concatenated, RFC 3396, up to a few KiB).
const maxDHCPValue = 4096

// DHCPURL reads the file the DHCP client script writes (see DHCPFile) and
// returns the provisioning URL the lease gave, with the option it came
// from ("dhcp option 66" or "dhcp option 160"). Option 160 (a whole URL)
// wins over 66. Option 66 reaches the script only as a host name (busybox
// udhcpc puts "bad" in place of anything else, a URL included), so the
// URL made of it is http://HOST/ followed by option 67's file name, if
// any, as a TFTP client would ask HOST for that file (TFTP itself is not
// spoken); a value that has a scheme (another DHCP client) is taken as it
// is. It returns "" when the lease gave neither, and an error for a value
// that is no usable URL.
func DHCPURL(file []byte) (u, source string, err error) {
	vals := map[string]string{}
	sc := bufio.NewScanner(bytes.NewReader(file))
	sc.Buffer(make([]byte, 0, 1024), 2*maxDHCPValue+64)
	for sc.Scan() {
		k, v, ok := strings.Cut(strings.TrimSpace(sc.Text()), "=")
		if !ok {
			continue
		}
		vals[k] = v
	}
	if err := sc.Err(); err != nil {
		return "", "", fmt.Errorf("dhcp: %w", err)
	}
	if h := strings.TrimSpace(vals["opt160"]); h != "" {
		raw, err := hex.DecodeString(h)
		if err != nil {
			return "", "dhcp option 160", fmt.Errorf("dhcp option 160: not hex: %w", err)
		}
		u, err := optionURL(string(bytes.TrimRight(raw, "\x00")))
		return u, "dhcp option 160", err
	}
	if v := strings.TrimSpace(vals["tftp"]); v != "" {
		if v == "bad" {
			return "", "dhcp option 66", errors.New("dhcp option 66: the DHCP client refused its value (it takes a host name only); give a URL in option 160, or the host in 66 and the path in 67")
		}
		if !strings.Contains(v, "://") {
			v = "http://" + v + "/" + strings.TrimLeft(strings.TrimSpace(vals["bootfile"]), "/")
		}
		u, err := optionURL(v)
		return u, "dhcp option 66", err
	}
	return "", "", nil
}

// optionURL makes a provisioning URL of an option's value.
func optionURL(v string) (string, error) {
	if len(v) > maxDHCPValue {
		return "", fmt.Errorf("%d bytes, too long for a URL", len(v))
	}
	if !utf8.ValidString(v) || strings.ContainsFunc(v, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
		return "", fmt.Errorf("%q holds control characters or is not UTF-8", v)
	}
	if !strings.Contains(v, "://") {
		v = "http://" + v
	}
	if err := CheckURL(v); err != nil {
		return "", err
	}
	return v, nil
}

// CheckURL checks that u (after {mac} and {model} are filled in) is an
// http or https URL with a host.
func CheckURL(u string) error {
	pu, err := url.Parse(Expand(u, "x", "x"))
	if err != nil {
		return fmt.Errorf("%q is not a URL: %w", u, err)
	}
	if pu.Scheme != "http" && pu.Scheme != "https" {
		return fmt.Errorf("%q: only http:// and https:// are fetched, not %s://", u, pu.Scheme)
	}
	if pu.Host == "" || pu.Hostname() == "" {
		return fmt.Errorf("%q has no host", u)
	}
	return nil
}

// Expand fills {mac} and {model} into a URL template. mac is written as
// lower-case hex without separators; both are escaped for a URL path.
func Expand(template, mac, model string) string {
	return strings.NewReplacer("{mac}", url.PathEscape(mac), "{model}", url.PathEscape(model)).Replace(template)
}

// MAC is the hardware address of the first interface (lowest index) that
// is not a loopback and has one, as lower-case hex without separators
// ("b827eb123456"); "" if there is none.
func MAC() string {
	ifs, err := net.Interfaces()
	if err != nil {
		return ""
	}
	for _, i := range ifs {
		if i.Flags&net.FlagLoopback != 0 || len(i.HardwareAddr) == 0 {
			continue
		}
		return FormatMAC(i.HardwareAddr)
	}
	return ""
}

// FormatMAC writes a hardware address the way {mac} takes it.
func FormatMAC(hw net.HardwareAddr) string { return hex.EncodeToString(hw) }
