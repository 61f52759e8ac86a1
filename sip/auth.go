package sip

import (
	"fmt"

	siplib "github.com/emiago/sipgo/sip"
	"github.com/icholy/digest"
)

// digestAnswer answers a 401 or 407 to a request (method, Request-URI uri)
// with acct's credentials: the header to add (Authorization or
// Proxy-Authorization) and its value. stale is the challenge's stale flag
// (a new nonce for credentials that were right). REGISTER, SUBSCRIBE and
// in-dialog requests share it.
func digestAnswer(res *siplib.Response, method siplib.RequestMethod, uri string, acct *Account) (name, value string, stale bool, err error) {
	chName, crName := "WWW-Authenticate", "Authorization"
	if res.StatusCode == siplib.StatusProxyAuthRequired {
		chName, crName = "Proxy-Authenticate", "Proxy-Authorization"
	}
	h := res.GetHeader(chName)
	if h == nil {
		return "", "", false, fmt.Errorf("%d %s without %s", res.StatusCode, res.Reason, chName)
	}
	chal, err := digest.ParseChallenge(h.Value())
	if err != nil {
		return "", "", false, fmt.Errorf("%d %s: %w", res.StatusCode, res.Reason, err)
	}
	chal.Algorithm = asciiUpper(chal.Algorithm)
	cred, err := digest.Digest(chal, digest.Options{
		Method: string(method), URI: uri,
		Username: acct.AuthName(), Password: acct.Password, Count: 1,
	})
	if err != nil {
		return "", "", false, fmt.Errorf("digest: %w", err)
	}
	return crName, cred.String(), chal.Stale, nil
}
