package io.livemig.examples.cli;

import io.livemig.transport.TlsChannel;
import io.livemig.transport.TlsChannelListener;
import org.bouncycastle.asn1.x9.X9ObjectIdentifiers;
import org.bouncycastle.jce.provider.BouncyCastleProvider;
import org.bouncycastle.openssl.jcajce.JcaPEMWriter;
import org.bouncycastle.openssl.jcajce.JcaPKCS8Generator;
import org.bouncycastle.openssl.jcajce.JceOpenSSLPKCS8EncryptorBuilder;
import org.bouncycastle.util.io.pem.PemObject;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.io.Writer;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.KeyPair;
import java.security.KeyPairGenerator;
import java.security.PrivateKey;
import java.security.interfaces.ECPrivateKey;
import java.security.interfaces.RSAPrivateKey;
import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import javax.net.ssl.SSLContext;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class TlsFilesTest {

    private static final Duration IO = Duration.ofSeconds(5);

    @Test
    void pemFilesWithPkcs8KeysMakeContextsThatHandshakeWithEachOther(@TempDir Path dir) throws Exception {
        assertHandshakes(ThrowawayPki.create("test CA").writePem(dir, false));
        assertTrue(Files.readString(dir.resolve("source.key")).contains("BEGIN PRIVATE KEY"));
    }

    @Test
    void traditionalEcKeysLoadToo(@TempDir Path dir) throws Exception {
        assertHandshakes(ThrowawayPki.create("test CA").writePem(dir, true));
        assertTrue(Files.readString(dir.resolve("source.key")).contains("BEGIN EC PRIVATE KEY"));
    }

    private static void assertHandshakes(Path dir) throws Exception {
        SSLContext destination = TlsFiles.context(dir.resolve("destination.pem"), dir.resolve("destination.key"),
                dir.resolve("ca.pem"));
        SSLContext source = TlsFiles.context(dir.resolve("source.pem"), dir.resolve("source.key"),
                dir.resolve("ca.pem"));
        try (TlsChannelListener listener = TlsChannelListener.bind(
                new InetSocketAddress(InetAddress.getLoopbackAddress(), 0), destination, ThrowawayPki.SOURCE_NAME, IO)) {
            CompletableFuture<Integer> received = CompletableFuture.supplyAsync(() -> {
                try (TlsChannel channel = listener.accept(IO)) {
                    return channel.receive(ByteBuffer.allocate(64));
                } catch (IOException e) {
                    throw new RuntimeException(e);
                }
            }, task -> Thread.ofPlatform().daemon().start(task));
            try (TlsChannel channel = TlsChannel.connect(listener.localAddress(), source,
                    ThrowawayPki.DESTINATION_NAME, IO, IO)) {
                channel.send(ByteBuffer.wrap(new byte[] {1, 2, 3}));
                assertTrue(channel.peer().contains("CN=" + ThrowawayPki.DESTINATION_NAME), channel.peer());
            }
            assertEquals(3, received.get(10, TimeUnit.SECONDS));
        }
    }

    @Test
    void openSslEcKeysWithTheirParametersBlockFirstLoad(@TempDir Path dir) throws Exception {
        ThrowawayPki pki = ThrowawayPki.create("test CA");
        pki.writePem(dir, true);
        String key = Files.readString(dir.resolve("source.key"));
        Path withParameters = dir.resolve("with-parameters.key");
        try (Writer out = Files.newBufferedWriter(withParameters, StandardCharsets.US_ASCII);
             JcaPEMWriter pem = new JcaPEMWriter(out)) {
            pem.writeObject(new PemObject("EC PARAMETERS", X9ObjectIdentifiers.prime256v1.getEncoded()));
        }
        Files.writeString(withParameters, key, java.nio.file.StandardOpenOption.APPEND);
        PrivateKey loaded = TlsFiles.privateKey(withParameters);
        assertEquals(((ECPrivateKey) pki.source().keys().getPrivate()).getS(), ((ECPrivateKey) loaded).getS());
    }

    @Test
    void traditionalRsaKeysLoad(@TempDir Path dir) throws Exception {
        KeyPairGenerator generator = KeyPairGenerator.getInstance("RSA");
        generator.initialize(2048);
        KeyPair keys = generator.generateKeyPair();
        Path file = dir.resolve("rsa.key");
        try (Writer out = Files.newBufferedWriter(file, StandardCharsets.US_ASCII);
             JcaPEMWriter pem = new JcaPEMWriter(out)) {
            pem.writeObject(keys);
        }
        assertTrue(Files.readString(file).contains("BEGIN RSA PRIVATE KEY"));
        RSAPrivateKey loaded = (RSAPrivateKey) TlsFiles.privateKey(file);
        assertEquals(((RSAPrivateKey) keys.getPrivate()).getPrivateExponent(), loaded.getPrivateExponent());
        assertEquals(((RSAPrivateKey) keys.getPrivate()).getModulus(), loaded.getModulus());
    }

    @Test
    void aKeyThatDoesNotBelongToTheCertificateIsRefused(@TempDir Path dir) throws Exception {
        ThrowawayPki.create("test CA").writePem(dir, false);
        IOException e = assertThrows(IOException.class, () -> TlsFiles.context(dir.resolve("source.pem"),
                dir.resolve("destination.key"), dir.resolve("ca.pem")));
        assertTrue(e.getMessage().contains("does not belong to the first certificate"), e.getMessage());
    }

    @Test
    void anEncryptedKeyIsRefusedWithAWayOut(@TempDir Path dir) throws Exception {
        ThrowawayPki pki = ThrowawayPki.create("test CA");
        Path file = dir.resolve("encrypted.key");
        try (Writer out = Files.newBufferedWriter(file, StandardCharsets.US_ASCII);
             JcaPEMWriter pem = new JcaPEMWriter(out)) {
            pem.writeObject(new JcaPKCS8Generator(pki.source().keys().getPrivate(),
                    new JceOpenSSLPKCS8EncryptorBuilder(JcaPKCS8Generator.AES_256_CBC)
                            .setProvider(new BouncyCastleProvider()) // for writing only; never registered
                            .setPassword("secret".toCharArray()).build()));
        }
        IOException e = assertThrows(IOException.class, () -> TlsFiles.privateKey(file));
        assertTrue(e.getMessage().contains("encrypted private key") && e.getMessage().contains("openssl pkey"),
                e.getMessage());
    }

    @Test
    void filesWithoutWhatTheyShouldHoldSayWhich(@TempDir Path dir) throws Exception {
        Path empty = Files.writeString(dir.resolve("empty.pem"), "nothing here\n");
        IOException noKey = assertThrows(IOException.class, () -> TlsFiles.privateKey(empty));
        assertTrue(noKey.getMessage().startsWith(empty.toString()) && noKey.getMessage().contains("no PEM private key"),
                noKey.getMessage());
        IOException noCertificate = assertThrows(IOException.class, () -> TlsFiles.certificates(empty));
        assertTrue(noCertificate.getMessage().startsWith(empty.toString()), noCertificate.getMessage());
        Path missing = dir.resolve("missing.pem");
        IOException noFile = assertThrows(IOException.class, () -> TlsFiles.certificates(missing));
        assertEquals(missing + ": no such file", noFile.getMessage());
    }
}
