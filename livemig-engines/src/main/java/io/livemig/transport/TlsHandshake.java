package io.livemig.transport;

import java.io.EOFException;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.security.cert.Certificate;
import java.security.cert.X509Certificate;
import java.util.Locale;
import java.util.Optional;
import javax.net.ssl.SSLHandshakeException;
import javax.net.ssl.SSLPeerUnverifiedException;
import javax.net.ssl.SSLSocket;

/**
 * A {@link TlsChannel}'s handshake: the TLS 1.3 handshake itself (both certificates verified by
 * the JDK against the trust managers of the caller's {@code SSLContext}), the expected-peer-name
 * check ({@link PeerNames}), and one confirmation byte each way.
 *
 * <p><b>Why the confirmation.</b> In TLS 1.3 the client's handshake is over once it has sent its
 * certificate; the server verifies it afterwards and reports a refusal with an alert that the
 * client reads only with its next record. So, after the TLS handshake, each side sends one byte
 * inside the TLS connection, {@value #ACCEPTED} ("your certificate names whom I expect") or
 * {@value #NAME_REFUSED} ("it does not"): the server first; the client reads it (or the server's
 * alert) and answers; the server reads the answer. A refusal then surfaces on both sides during the
 * handshake, with its reason, instead of on the first message. It costs the server one more trip
 * across the link before its first message; the client sends its own right after its answer.
 *
 * <p>Stateless; the channel serialises calls.
 */
final class TlsHandshake {

    /** Confirmation byte: the peer's certificate names whom this side expects (or nobody was named). */
    static final int ACCEPTED = 1;
    /** Confirmation byte: the peer's certificate does not name whom this side expects. */
    static final int NAME_REFUSED = 2;

    private TlsHandshake() {
    }

    /**
     * Runs the handshake on a connected socket whose reads time out (the caller bounds the whole).
     * The server sends its confirmation first and the client answers it, so that the client reads
     * the server's verdict (or its TLS alert) before it writes anything of its own.
     *
     * @param ssl              the socket, in client or server mode, TLS 1.3 only
     * @param expectedPeerName the name the peer's certificate must carry, or null for any
     *                         certificate the trust store accepts
     * @param address          the peer's address, for messages
     * @return the peer's verified end-entity certificate
     * @throws IOException the JDK's failure as it came (see {@link #describe}), or a refusal by the
     *                     name check on either side
     */
    static X509Certificate run(SSLSocket ssl, InputStream in, OutputStream out, String expectedPeerName,
                               String address) throws IOException {
        ssl.startHandshake();
        Certificate[] chain = ssl.getSession().getPeerCertificates(); // SSLPeerUnverifiedException if none
        if (chain.length == 0 || !(chain[0] instanceof X509Certificate peer)) {
            throw new SSLPeerUnverifiedException("the peer at " + address + " presented no X.509 certificate");
        }
        if (ssl.getUseClientMode()) {
            readConfirmation(in, address);
            confirm(out, peer, expectedPeerName, address);
        } else {
            confirm(out, peer, expectedPeerName, address);
            readConfirmation(in, address);
        }
        return peer;
    }

    /** Checks the peer's name and says the verdict; throws if it is a refusal. */
    private static void confirm(OutputStream out, X509Certificate peer, String expectedPeerName, String address)
            throws IOException {
        Optional<String> mismatch = expectedPeerName == null ? Optional.empty()
                : PeerNames.mismatch(peer, expectedPeerName);
        out.write(mismatch.isEmpty() ? ACCEPTED : NAME_REFUSED);
        out.flush();
        if (mismatch.isPresent()) {
            throw new SSLHandshakeException("TLS handshake with " + address + " failed: the peer's certificate ("
                    + peer.getSubjectX500Principal().getName() + ") does not name '" + expectedPeerName
                    + "', the expected peer name; it names " + mismatch.get());
        }
    }

    private static void readConfirmation(InputStream in, String address) throws IOException {
        int answer = in.read();
        if (answer == NAME_REFUSED) {
            throw new SSLHandshakeException("TLS handshake with " + address + " failed: the peer refused this "
                    + "side's certificate because it does not carry the name the peer expects");
        }
        if (answer != ACCEPTED) {
            throw answer < 0
                    ? new EOFException("TLS handshake with " + address + " failed: the peer closed the connection "
                            + "without confirming the handshake")
                    : new SSLHandshakeException("TLS handshake with " + address + " failed: the peer sent "
                            + answer + " where a confirmation byte belongs (not a livemig TLS channel?)");
        }
    }

    /**
     * Turns a handshake failure from the JDK into an exception whose message says what went wrong
     * in the operator's terms: no certificate, an untrusted one, a wrong name, a peer that does not
     * speak TLS. Failures that {@link #run} made itself are returned unchanged.
     *
     * @param failure what the handshake threw
     * @param address the peer's address
     * @return an {@link SSLHandshakeException} (or the original) with {@code failure} as its cause
     */
    static IOException describe(IOException failure, String address) {
        String message = String.valueOf(failure.getMessage());
        if (message.startsWith("TLS handshake with ")) {
            return failure;
        }
        String lower = message.toLowerCase(Locale.ROOT);
        String reason;
        if (lower.contains("certification path") || lower.contains("pkix path")) {
            reason = "the peer's certificate is not trusted: it is not signed by a CA in this side's trust store";
        } else if (lower.contains("empty client certificate chain") || lower.contains("empty server certificate")
                || lower.contains("peer not authenticated")) {
            reason = "the peer presented no certificate (mutual TLS needs one on each side; a peer whose "
                    + "certificate is from a CA this side does not trust may send none)";
        } else if (lower.contains("certificate_required")) {
            reason = "the peer refused this side: it requires a certificate signed by a CA that it trusts, and "
                    + "this side has none (no certificate, or only one from another CA)";
        } else if (lower.contains("bad_certificate") || lower.contains("unknown_ca")
                || lower.contains("certificate_unknown") || lower.contains("unsupported_certificate")) {
            reason = "the peer refused this side's certificate (" + message
                    + "): is it signed by a CA that the peer trusts?";
        } else if (lower.contains("certificate_expired") || lower.contains("validity check failed")
                || lower.contains("notafter") || lower.contains("notbefore")) {
            reason = "a certificate is expired or not yet valid (" + message + ")";
        } else if (lower.contains("unrecognized ssl message") || lower.contains("plaintext connection")
                || lower.contains("unsupported or unrecognized")) {
            reason = "the peer does not speak TLS (a plain TCP connection to a TLS port?)";
        } else if (failure instanceof java.net.SocketException && (lower.contains("broken pipe")
                || lower.contains("connection reset"))) {
            reason = "the peer broke off the TLS handshake (" + message + "): it may have refused this side's "
                    + "certificate, or it does not speak TLS";
        } else if (lower.contains("remote host terminated the handshake") || failure instanceof EOFException) {
            reason = "the peer closed the connection during the TLS handshake (is it a TLS endpoint, "
                    + "and does it accept this side's certificate?)";
        } else if (lower.contains("protocol_version") || lower.contains("no appropriate protocol")
                || lower.contains("protocol is disabled")) {
            reason = "no TLS 1.3 in common with the peer (" + message + ")";
        } else if (lower.contains("no available authentication scheme")
                || lower.contains("no suitable certificate")) {
            reason = "this side has no certificate and key to present (" + message + ")";
        } else {
            reason = message;
        }
        SSLHandshakeException described = new SSLHandshakeException("TLS handshake with " + address + " failed: "
                + reason);
        described.initCause(failure);
        return described;
    }
}
