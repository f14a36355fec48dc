// The CommonJS side of the declarations.
import splinter = require('splinter');
const s: splinter.Store = splinter.Store.create(null, { backing: 'memfd' });
s.close();
