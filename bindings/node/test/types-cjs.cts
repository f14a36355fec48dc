// The CommonJS side of the declarations.
import splinter = require('splinter');
const s: splinter.Store = splinter.Store.create(null, { backing: 'memfd' });
const pk: splinter.PreparedKey = s.prepare('k');
console.log(pk.get(), s.getMany([pk]));
s.close();
