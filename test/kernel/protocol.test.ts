/** The wire protocol: signatures, refusal of unsigned, wrongly signed and replayed messages. */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConnectionFileError, Decoder, DELIMITER, encode, endpoint, newHeader, readConnectionFile, Signer } from '../../kernel/protocol';
import { codePointToOffset, offsetToCodePoint } from '../../kernel/runtime';
import { tempDir } from './helpers';

function message(code = '1 + 1') {
  return {
    identities: [Buffer.from('client-id')],
    header: newHeader('execute_request', 'session-1', 'tester'),
    parent_header: {},
    metadata: {},
    content: { code, silent: false },
  };
}

describe('HMAC signatures', () => {
  const signer = new Signer('secret-key', 'hmac-sha256');

  it('accepts a message signed with the key, and keeps identities and content', () => {
    const d = new Decoder(signer).decode(encode(signer, message()));
    expect(d.ok).toBe(true);
    if (!d.ok) return;
    expect(d.msg.identities.map(String)).toEqual(['client-id']);
    expect(d.msg.header.msg_type).toBe('execute_request');
    expect(d.msg.content.code).toBe('1 + 1');
  });

  it('refuses a message signed with another key', () => {
    const d = new Decoder(signer).decode(encode(new Signer('other-key', 'hmac-sha256'), message()));
    expect(d).toEqual({ ok: false, reason: 'invalid signature' });
  });

  it('refuses an unsigned message', () => {
    const d = new Decoder(signer).decode(encode(new Signer('', 'hmac-sha256'), message()));
    expect(d).toEqual({ ok: false, reason: 'missing signature' });
  });

  it('refuses a message whose content was changed after signing', () => {
    const frames = encode(signer, message('1 + 1'));
    const i = frames.findIndex((f) => f.equals(DELIMITER));
    frames[i + 5] = Buffer.from(JSON.stringify({ code: 'process.exit(1)', silent: false }));
    expect(new Decoder(signer).decode(frames)).toEqual({ ok: false, reason: 'invalid signature' });
  });

  it('refuses a replayed message', () => {
    const decoder = new Decoder(signer);
    const frames = encode(signer, message());
    expect(decoder.decode(frames).ok).toBe(true);
    expect(decoder.decode(frames)).toEqual({ ok: false, reason: 'duplicate signature (replayed message)' });
  });

  it('refuses frames without the delimiter', () => {
    expect(new Decoder(signer).decode([Buffer.from('x')]).ok).toBe(false);
  });

  it('signs with the scheme of the connection file', () => {
    const s512 = new Signer('k', 'hmac-sha512');
    expect(s512.sign([Buffer.from('a')])).toHaveLength(128);
    expect(() => new Signer('k', 'rot13')).toThrow(/unsupported signature_scheme/);
  });

  it('with an empty key, messages are not signed (as the protocol defines)', () => {
    const none = new Signer('', 'hmac-sha256');
    expect(none.enabled).toBe(false);
    expect(new Decoder(none).decode(encode(none, message())).ok).toBe(true);
  });
});

describe('connection files', () => {
  it('binds only to the transport and address of the file', () => {
    const dir = tempDir('conn');
    const file = path.join(dir, 'kernel.json');
    fs.writeFileSync(file, JSON.stringify({ transport: 'tcp', ip: '127.0.0.1', shell_port: 1, iopub_port: 2, stdin_port: 3, control_port: 4, hb_port: 5, key: 'k', signature_scheme: 'hmac-sha256' }));
    const c = readConnectionFile(file);
    expect(endpoint(c, c.shell_port)).toBe('tcp://127.0.0.1:1');
    expect(endpoint({ ...c, transport: 'ipc', ip: '/tmp/k' }, 7)).toBe('ipc:///tmp/k-7');
  });

  it('names the file and the problem when it is malformed', () => {
    const dir = tempDir('conn');
    const file = path.join(dir, 'bad.json');
    fs.writeFileSync(file, JSON.stringify({ ip: '127.0.0.1', shell_port: 1 }));
    expect(() => readConnectionFile(file)).toThrow(ConnectionFileError);
    expect(() => readConnectionFile(file)).toThrow(/bad\.json: missing or invalid "iopub_port"/);
  });
});

describe('cursor positions', () => {
  it('converts Jupyter code points to JavaScript offsets and back', () => {
    const s = 'a😀b';
    expect(codePointToOffset(s, 2)).toBe(3);
    expect(offsetToCodePoint(s, 3)).toBe(2);
  });
});
