package webui

import (
	"fmt"
	"net/http"
	"strings"
	"time"
)

// AdminUser is the one account's user name. The login form asks for it so
// that password managers work; there is no default password to go with it.
const AdminUser = "admin"

type setupData struct {
	MinLen int
	Errs   map[string]string
}

func (s *Server) setupPage(w http.ResponseWriter, r *http.Request) {
	if s.admin.isSet() {
		http.Redirect(w, r, "/login", http.StatusSeeOther)
		return
	}
	s.render(w, http.StatusOK, "setup", view{Title: "Set the admin password", CSRF: s.preSessionToken(w, r),
		Page: setupData{MinLen: MinPasswordLen}})
}

func (s *Server) setupPost(w http.ResponseWriter, r *http.Request) {
	if s.admin.isSet() {
		http.Redirect(w, r, "/login", http.StatusSeeOther)
		return
	}
	if !s.preSessionOK(r) {
		s.renderError(w, http.StatusForbidden, "This form has expired. Reload the page and try again.")
		return
	}
	pw, confirm := r.PostFormValue("password"), r.PostFormValue("confirm")
	errs := map[string]string{}
	if msg := checkNewPassword(pw); msg != "" {
		errs["password"] = msg
	} else if pw != confirm {
		errs["confirm"] = "The two passwords differ."
	}
	if len(errs) > 0 {
		s.render(w, http.StatusUnprocessableEntity, "setup", view{Title: "Set the admin password",
			CSRF: s.preSessionToken(w, r), Page: setupData{MinLen: MinPasswordLen, Errs: errs}})
		return
	}
	if err := s.admin.set(pw, s.now(), true); err != nil {
		if err == errAlreadySet {
			http.Redirect(w, r, "/login", http.StatusSeeOther)
			return
		}
		if err == errHashBusy {
			w.Header().Set("Retry-After", retryAfter(busyRetry))
			s.renderError(w, http.StatusTooManyRequests, "The adapter is busy checking passwords. Try again in a few seconds.")
			return
		}
		s.log.Error("webui: set admin password", "err", err)
		s.renderError(w, http.StatusInternalServerError, "The password could not be saved: "+err.Error())
		return
	}
	s.logf(r, "admin password set (first boot)")
	ss := s.startSession(w, r)
	s.sessions.setFlash(ss, "Admin password set. Now enter the SIP account your provider gave you.")
	http.Redirect(w, r, "/sip", http.StatusSeeOther)
}

type loginData struct {
	Next string
	User string
}

func (s *Server) loginPage(w http.ResponseWriter, r *http.Request) {
	if !s.admin.isSet() {
		http.Redirect(w, r, "/setup", http.StatusSeeOther)
		return
	}
	if s.session(r, false) != nil {
		http.Redirect(w, r, localPath(r.URL.Query().Get("next")), http.StatusSeeOther)
		return
	}
	s.render(w, http.StatusOK, "login", view{Title: "Log in", CSRF: s.preSessionToken(w, r),
		Page: loginData{Next: localPath(r.URL.Query().Get("next")), User: AdminUser}})
}

func (s *Server) loginPost(w http.ResponseWriter, r *http.Request) {
	if !s.admin.isSet() {
		http.Redirect(w, r, "/setup", http.StatusSeeOther)
		return
	}
	if !s.preSessionOK(r) {
		s.renderError(w, http.StatusForbidden, "This form has expired. Reload the page and try again.")
		return
	}
	next := localPath(r.PostFormValue("next"))
	user := strings.TrimSpace(r.PostFormValue("username"))
	again := func(status int, msg string) {
		s.render(w, status, "login", view{Title: "Log in", CSRF: s.preSessionToken(w, r), Error: msg,
			Page: loginData{Next: next, User: AdminUser}})
	}
	if ok, msg := s.checkPassword(w, r, r.PostFormValue("password"), user == AdminUser); !ok {
		status := http.StatusUnauthorized
		if w.Header().Get("Retry-After") != "" {
			status = http.StatusTooManyRequests
		}
		again(status, msg)
		return
	}
	s.logf(r, "login")
	s.startSession(w, r)
	http.Redirect(w, r, next, http.StatusSeeOther)
}

// checkPassword checks the admin password under the login throttle (the
// re-entered password of a password change or factory reset counts too).
// On failure it returns the message to show and, when the client is locked
// out or the adapter is too busy hashing other attempts, sets Retry-After
// (the callers answer 429 then).
//
// The order matters: a locked-out client is refused before it queues for
// the hash gate; the attempt is reserved (counted as wrong) only once a
// hash slot is held, so guesses sent in parallel cannot all pass the
// throttle before the first of them is counted.
func (s *Server) checkPassword(w http.ResponseWriter, r *http.Request, pw string, userOK bool) (bool, string) {
	key := clientKey(r.RemoteAddr)
	if wait := s.throttle.wait(key, s.now()); wait > 0 {
		return false, s.lockedOut(w, wait)
	}
	if err := hashes.acquire(hashWait); err != nil {
		w.Header().Set("Retry-After", retryAfter(busyRetry))
		s.logf(r, "login refused: busy checking other passwords")
		return false, fmt.Sprintf("The adapter is busy checking other passwords. Try again in %s.", retryText(busyRetry))
	}
	defer hashes.release()
	wait, lock := s.throttle.reserve(key, s.now())
	if wait > 0 {
		return false, s.lockedOut(w, wait)
	}
	ok, upgraded, err := s.admin.check(pw)
	if ok && userOK {
		s.throttle.succeed(key)
		if err != nil {
			s.log.Warn("webui: admin password hash not upgraded to the new parameters", "err", err)
		} else if upgraded {
			s.logf(r, "admin password hash upgraded to the new parameters")
		}
		return true, ""
	}
	s.logf(r, "wrong password", "lockout", lock)
	if lock > 0 {
		w.Header().Set("Retry-After", retryAfter(lock))
		return false, fmt.Sprintf("Wrong user name or password. Too many wrong passwords: try again in %s.", retryText(lock))
	}
	return false, "Wrong user name or password."
}

// busyRetry is the Retry-After of a login turned away by the hash gate.
const busyRetry = 2 * time.Second

func (s *Server) lockedOut(w http.ResponseWriter, wait time.Duration) string {
	w.Header().Set("Retry-After", retryAfter(wait))
	return fmt.Sprintf("Too many wrong passwords from your address. Try again in %s.", retryText(wait))
}

func retryText(d interface{ Seconds() float64 }) string {
	sec := int(d.Seconds() + 0.999)
	if sec < 120 {
		return fmt.Sprintf("%d seconds", sec)
	}
	return fmt.Sprintf("%d minutes", (sec+59)/60)
}

func (s *Server) logout(w http.ResponseWriter, r *http.Request, ss *session) {
	s.sessions.delete(ss.id)
	clearCookie(w, r, sessionCookie)
	http.Redirect(w, r, "/login", http.StatusSeeOther)
}
