package io.livemig.transport;

import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.net.Socket;
import java.security.KeyStore;
import java.security.Principal;
import java.security.PrivateKey;
import java.security.cert.X509Certificate;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.concurrent.TimeUnit;
import javax.net.ssl.KeyManager;
import javax.net.ssl.KeyManagerFactory;
import javax.net.ssl.SSLContext;
import javax.net.ssl.SSLEngine;
import javax.net.ssl.TrustManagerFactory;
import javax.net.ssl.X509ExtendedKeyManager;

/**
 * Certificates for the TLS tests, made once per JVM with the JDK's {@code keytool} in a temporary
 * directory (the engines have no other certificate tooling, by design): two CAs, and EC P-256
 * leaves that they sign, all in one PKCS#12 store ({@code keytool -genkeypair -signer} signs
 * within one store, one process per certificate).
 *
 * <ul>
 *   <li>{@code server}: CN=destination, DNS:destination.test, IP:127.0.0.1, IP:::1; signed by {@code ca}</li>
 *   <li>{@code client}: CN=source, DNS:source.test; signed by {@code ca}</li>
 *   <li>{@code stranger}: CN=source, DNS:source.test; signed by {@code other-ca}</li>
 *   <li>{@code cn-only}: CN=cn-only.test, no subject alternative names; signed by {@code ca}</li>
 * </ul>
 */
final class TestPki {

    private static final String PASSWORD = "changeit";
    private static TestPki instance;

    private final KeyStore store;

    private TestPki(KeyStore store) {
        this.store = store;
    }

    /** @return the certificates, made on first use */
    static synchronized TestPki get() throws Exception {
        if (instance == null) {
            Path dir = Files.createTempDirectory("livemig-tls-test");
            try {
                keytool(dir, "ca", "CN=livemig test CA", null, "bc:c");
                keytool(dir, "other-ca", "CN=some other CA", null, "bc:c");
                String leaf = "eku=serverAuth,clientAuth";
                keytool(dir, "server", "CN=destination", "ca", "san=dns:destination.test,ip:127.0.0.1,ip:::1", leaf);
                keytool(dir, "client", "CN=source", "ca", "san=dns:source.test", leaf);
                keytool(dir, "stranger", "CN=source", "other-ca", "san=dns:source.test", leaf);
                keytool(dir, "cn-only", "CN=cn-only.test", "ca", leaf);
                KeyStore store = KeyStore.getInstance("PKCS12");
                try (InputStream in = Files.newInputStream(dir.resolve("pki.p12"))) {
                    store.load(in, PASSWORD.toCharArray());
                }
                instance = new TestPki(store);
            } finally {
                deleteQuietly(dir);
            }
        }
        return instance;
    }

    /**
     * @param key   whose certificate chain and key this side presents, or null for none
     * @param trust which CA this side trusts
     * @return a TLS context
     */
    SSLContext context(String key, String trust) throws Exception {
        return context(key, trust, false);
    }

    /**
     * @param key    whose certificate chain and key this side presents, or null for none
     * @param trust  which CA this side trusts
     * @param anyway true to present {@code key} even when the server asks for a certificate from
     *               other CAs (the JDK's key manager would then present none), as a hostile or
     *               misconfigured client might
     * @return a TLS context
     */
    SSLContext context(String key, String trust, boolean anyway) throws Exception {
        KeyManagerFactory keys = null;
        if (key != null) {
            KeyStore own = KeyStore.getInstance("PKCS12");
            own.load(null, null);
            own.setKeyEntry(key, store.getKey(key, PASSWORD.toCharArray()), PASSWORD.toCharArray(),
                    store.getCertificateChain(key));
            keys = KeyManagerFactory.getInstance(KeyManagerFactory.getDefaultAlgorithm());
            keys.init(own, PASSWORD.toCharArray());
        }
        KeyStore anchors = KeyStore.getInstance("PKCS12");
        anchors.load(null, null);
        anchors.setCertificateEntry(trust, certificate(trust));
        TrustManagerFactory trusts = TrustManagerFactory.getInstance(TrustManagerFactory.getDefaultAlgorithm());
        trusts.init(anchors);
        SSLContext context = SSLContext.getInstance("TLSv1.3");
        KeyManager[] keyManagers = keys == null ? null : keys.getKeyManagers();
        if (anyway) {
            keyManagers = new KeyManager[] {new Insistent((X509ExtendedKeyManager) keyManagers[0], key)};
        }
        context.init(keyManagers, trusts.getTrustManagers(), null);
        return context;
    }

    /** A client key manager that presents its one certificate whatever the server asks for. */
    private static final class Insistent extends X509ExtendedKeyManager {
        private final X509ExtendedKeyManager keys;
        private final String alias;

        Insistent(X509ExtendedKeyManager keys, String alias) {
            this.keys = keys;
            this.alias = alias;
        }

        @Override
        public String chooseClientAlias(String[] keyType, Principal[] issuers, Socket socket) {
            return alias;
        }

        @Override
        public String chooseEngineClientAlias(String[] keyType, Principal[] issuers, SSLEngine engine) {
            return alias;
        }

        @Override
        public String[] getClientAliases(String keyType, Principal[] issuers) {
            return new String[] {alias};
        }

        @Override
        public String[] getServerAliases(String keyType, Principal[] issuers) {
            return keys.getServerAliases(keyType, issuers);
        }

        @Override
        public String chooseServerAlias(String keyType, Principal[] issuers, Socket socket) {
            return keys.chooseServerAlias(keyType, issuers, socket);
        }

        @Override
        public X509Certificate[] getCertificateChain(String name) {
            return keys.getCertificateChain(name);
        }

        @Override
        public PrivateKey getPrivateKey(String name) {
            return keys.getPrivateKey(name);
        }
    }

    /** @return the end-entity certificate of {@code alias} */
    X509Certificate certificate(String alias) throws Exception {
        return (X509Certificate) store.getCertificate(alias);
    }

    /** Makes one key pair and certificate in {@code dir/pki.p12}, signed by {@code signer} (null: itself). */
    private static void keytool(Path dir, String alias, String dname, String signer, String... extensions)
            throws Exception {
        List<String> command = new ArrayList<>(List.of(
                Path.of(System.getProperty("java.home"), "bin", "keytool").toString(),
                "-J-XX:TieredStopAtLevel=1", "-J-XX:+UseSerialGC", // start-up flags for a short-lived JVM
                "-genkeypair", "-keystore", "pki.p12", "-storetype", "PKCS12", "-storepass", PASSWORD,
                "-keypass", PASSWORD, "-alias", alias, "-dname", dname, "-keyalg", "EC", "-groupname", "secp256r1",
                "-validity", "2"));
        if (signer != null) {
            command.addAll(List.of("-signer", signer, "-signerkeypass", PASSWORD));
        }
        for (String extension : extensions) {
            command.addAll(List.of("-ext", extension));
        }
        Process process = new ProcessBuilder(command).directory(dir.toFile()).redirectErrorStream(true).start();
        process.getOutputStream().close();
        String output = new String(process.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        if (!process.waitFor(60, TimeUnit.SECONDS) || process.exitValue() != 0) {
            throw new IOException("keytool failed for " + alias + ": " + output);
        }
    }

    private static void deleteQuietly(Path dir) {
        try (var files = Files.walk(dir)) {
            files.sorted(Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
        } catch (IOException ignored) {
            // a temporary directory; the OS cleans it eventually
        }
    }
}
