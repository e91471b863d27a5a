/**
 * Text from a user's graph inside generated Python goes in only as `pyStr`'s escaped literal (pure
 * printable ASCII, the same code points in Python, lone surrogates included). One escaper, declared
 * with the blocks' PyTorch declarations that need it too.
 */
export { pyStr } from '../../../blocks/pytorch';
