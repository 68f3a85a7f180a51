import forge from 'node-forge';

export interface Certificate {
  key: string;
  cert: string;
  notAfter: Date;
}

/**
 * A self-signed certificate for loopback demo and test TLS servers. `notBefore`/`notAfter`
 * are explicit so callers can make one that expires soon or expired long ago.
 */
export function selfSignedCertificate(options: { commonName?: string; notBefore: Date; notAfter: Date }): Certificate {
  const keys = forge.pki.rsa.generateKeyPair(1024);
  const cert = forge.pki.createCertificate();
  cert.publicKey = keys.publicKey;
  cert.serialNumber = Date.now().toString(16);
  cert.validity.notBefore = options.notBefore;
  cert.validity.notAfter = options.notAfter;
  const subject = [{ name: 'commonName', value: options.commonName ?? 'localhost' }];
  cert.setSubject(subject);
  cert.setIssuer(subject);
  cert.setExtensions([{ name: 'subjectAltName', altNames: [{ type: 7, ip: '127.0.0.1' }, { type: 2, value: 'localhost' }] }]);
  cert.sign(keys.privateKey, forge.md.sha256.create());
  return { key: forge.pki.privateKeyToPem(keys.privateKey), cert: forge.pki.certificateToPem(cert), notAfter: options.notAfter };
}
