import { describe, expect, it } from 'vitest';
import { parseDsn, redact } from '../../src/db/dsn.ts';

describe('parseDsn', () => {
  it.each([
    ['monitor@tcp(mysql1:3306)/monitor', { user: 'monitor', password: '', host: 'mysql1', port: 3306, database: 'monitor' }],
    ['u:p@ss@tcp(127.0.0.1:3307)/db?parseTime=true', { user: 'u', password: 'p@ss', host: '127.0.0.1', port: 3307, database: 'db' }],
    ['root@tcp(127.0.0.1)/x?timeout=5s', { user: 'root', host: '127.0.0.1', port: 3306, database: 'x', connectTimeout: 5000 }],
    ['u@tcp([::1]:3306)/x', { host: '::1', port: 3306 }],
    ['u@unix(/run/mysqld/mysqld.sock)/x', { socketPath: '/run/mysqld/mysqld.sock', database: 'x' }],
    ['/onlydb', { user: 'root', host: '127.0.0.1', port: 3306, database: 'onlydb' }],
    ['mysql://a:b%40c@127.0.0.1:3310/mon', { user: 'a', password: 'b@c', host: '127.0.0.1', port: 3310, database: 'mon' }],
    // A `%` that starts no valid escape is kept as written (go-sql-driver passwords are literal).
    ['mysql://bearmon:50%off@127.0.0.1/bearmon', { user: 'bearmon', password: '50%off', host: '127.0.0.1', port: 3306, database: 'bearmon' }],
    ['mysql://u:%E2%82%AC%ff@h/d', { password: '€%ff' }],
    ['mysql://u:p@ss@[::1]:3307/db', { user: 'u', password: 'p@ss', host: '::1', port: 3307, database: 'db' }],
    ['mysql://u:a/b#c?d@h/db', { user: 'u', password: 'a/b#c?d', host: 'h', database: 'db' }],
    ['u:50%off@tcp(h)/d', { user: 'u', password: '50%off', host: 'h' }],
    ['u:a:b@c@tcp([2001:db8::1]:3307)/d', { user: 'u', password: 'a:b@c', host: '2001:db8::1', port: 3307 }],
  ])('%s', (dsn, expected) => {
    expect(parseDsn(dsn)).toMatchObject(expected);
  });

  it.each([
    ['u:secret@tcp(h:3306)', /expected user:pass@tcp\(host:port\)\/dbname, got "u:\*\*\*@tcp\(h:3306\)"/],
    ['u:secret@tcp(h:3306)/', /missing database name in "u:\*\*\*@tcp/],
    ['u@tcp(h:99999)/d', /invalid address "h:99999"/],
    ['mysql://u:secret@/', /invalid mysql:\/\/ URL "mysql:\/\/u:\*\*\*@\/"/],
    ['mysql://u:secret@h:3306', /missing database name in "mysql:\/\/u:\*\*\*@h:3306"/],
    ['u:secret@tcp(h:99999)/d', /invalid address "h:99999" in "u:\*\*\*@tcp\(h:99999\)\/d"/],
    ['u:sec@ret@bogus', /expected user:pass@tcp\(host:port\)\/dbname, got "u:\*\*\*@bogus"/],
    ['mysql://u:secret@h:99999/db', /invalid mysql:\/\/ URL "mysql:\/\/u:\*\*\*@h:99999\/db"/],
    ['mysql://u:50%secret@/db', /invalid mysql:\/\/ URL "mysql:\/\/u:\*\*\*@\/db": missing host/],
    ['mysql://u:p@secret@[::1/db', /invalid mysql:\/\/ URL "mysql:\/\/u:\*\*\*@\[::1\/db"/],
  ])('rejects %s without showing the password', (dsn, message) => {
    expect(() => parseDsn(dsn)).toThrow(message);
    expect(() => parseDsn(dsn)).not.toThrow(/secret|ret@|sec@/);
  });

  it('redacts passwords in both forms', () => {
    expect(redact('u:pw@tcp(h:1)/d')).toBe('u:***@tcp(h:1)/d');
    expect(redact('mysql://u:pw@h/d')).toBe('mysql://u:***@h/d');
    expect(redact('u@tcp(h:1)/d')).toBe('u@tcp(h:1)/d');
  });
});
