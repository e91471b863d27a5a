import { benchCommand } from './bench/index';
