package protocol

// RegisterChallengePrefix starts the text that a relay client signs to prove that it holds the
// key it registers.
const RegisterChallengePrefix = "agora-relay-register:v1:"

// RegisterChallenge returns the text a relay client signs with the key it registers: the
// prefix, the relay's public key (SPKI hex), a colon and the nonce the relay issued. Binding the
// relay's key stops a malicious relay from replaying the signature at another relay.
func RegisterChallenge(relayKey, nonce string) string {
	return RegisterChallengePrefix + relayKey + ":" + nonce
}
